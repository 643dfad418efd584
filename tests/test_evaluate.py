import json

import jax
import jax.numpy as jnp
import matplotlib.image
import numpy as np
import pytest

import envs
from icrl.agents import make_agent
from icrl.evaluate import evaluate_online
from icrl.metrics import mean_ci95
from icrl.plot import curves, main as plot_main, plot_results
from icrl.results import SCHEMA, load_results


def test_mean_ci95_by_hand():
    mean, ci = mean_ci95(np.array([[1.0, 10.0], [2.0, 10.0], [3.0, 10.0], [4.0, 10.0]]))
    np.testing.assert_allclose(mean, [2.5, 10.0])
    np.testing.assert_allclose(ci, [1.96 * np.sqrt(5 / 3) / 2, 0.0])


def test_bandit_results_schema_and_oracle_regret_is_zero():
    env, _ = envs.make("bernoulli-bandit", num_arms=3, horizon=40)
    tasks = env.sample_tasks(jax.random.PRNGKey(0), 50, "test")
    res = evaluate_online(env, {"oracle": "oracle", "random": "random"}, tasks, jax.random.PRNGKey(1), 40)
    assert res["schema"] == SCHEMA and res["num_tasks"] == 50 and res["split"] == "test" and res["env"]["name"] == "bernoulli-bandit"
    assert set(res["methods"]) == {"oracle", "random"}
    oracle = res["methods"]["oracle"]
    assert len(oracle["cumulative_regret"]) == 40 and len(oracle["cumulative_regret_ci95"]) == 40
    assert oracle["cumulative_regret"] == [0.0] * 40 and oracle["cumulative_regret_ci95"] == [0.0] * 40
    random = np.asarray(res["methods"]["random"]["cumulative_regret"])
    assert (np.diff(random) >= 0).all() and random[-1] > 5
    json.dumps(res)  # serialisable as is


def test_grid_results_report_returns_per_episode():
    env, _ = envs.make("darkroom", size=5, horizon=10)
    tasks = env.task_pool("test")
    res = evaluate_online(env, {"oracle": "oracle"}, tasks, jax.random.PRNGKey(1), 30)
    m = res["methods"]["oracle"]
    assert len(m["episode_return"]) == 3
    np.testing.assert_allclose(m["episode_return"], res["optimal_return"], rtol=1e-6)
    assert m["optimal_return"] == res["optimal_return"]
    np.testing.assert_allclose(m["episode_fraction"], 1.0, rtol=1e-6)
    with pytest.raises(ValueError, match="whole episodes"):
        evaluate_online(env, {"oracle": "oracle"}, tasks, jax.random.PRNGKey(1), 25)


def test_fraction_of_optimal_is_the_mean_over_tasks_of_each_tasks_fraction():
    """Q-learning on two goals, one near the start and one far: the fraction is the mean of the goals' own
    fractions, by hand from the same rollout, and not the mean return over the mean optimal return."""
    from icrl.rollout import episode_returns, rollout

    env, _ = envs.make("darkroom", size=5, horizon=10)
    pool = env.task_pool("all")
    goals = np.asarray(pool.goal)
    near, far = (int(np.argmin(np.abs(goals - 2).sum(1) + 10 * (goals == 2).all(1))), int(np.argmax(np.abs(goals - 2).sum(1))))
    tasks = jax.tree.map(lambda x: x[np.array([near, far])], pool)
    key = jax.random.PRNGKey(3)
    m = evaluate_online(env, {"q": "q-learning"}, tasks, key, 40)["methods"]["q"]
    returns = np.asarray(episode_returns(rollout(env, make_agent("q-learning", env), tasks, key, 40), env.horizon))
    optimal = np.asarray(jax.vmap(env.optimal_return)(tasks))
    assert optimal[0] != optimal[1]
    np.testing.assert_allclose(m["episode_fraction"], (returns / optimal[:, None]).mean(0), rtol=1e-6)
    np.testing.assert_allclose(m["episode_return"], returns.mean(0), rtol=1e-6)
    ratio = returns.mean(0) / optimal.mean()
    assert not np.allclose(m["episode_fraction"], ratio)  # the two measures differ here


def _bandit_results():
    env, _ = envs.make("bernoulli-bandit", num_arms=3, horizon=30)
    tasks = env.sample_tasks(jax.random.PRNGKey(0), 20, "test")
    return evaluate_online(env, {"ucb": "ucb", "random": "random"}, tasks, jax.random.PRNGKey(1), 30)


def test_plot_writes_png_of_requested_size(tmp_path):
    res = _bandit_results()
    path = tmp_path / "results.json"
    path.write_text(json.dumps(res))
    out = plot_results(load_results(str(path)), str(tmp_path / "r.png"), size=(4.0, 3.0), dpi=50, log_scale=True)
    img = matplotlib.image.imread(out)
    assert img.shape[:2] == (150, 200)
    assert img[..., :3].std() > 0.05  # not a blank canvas
    plot_main([str(path), str(path), "-o", str(tmp_path / "o.svg"), "--labels", "a", "b"])
    assert (tmp_path / "o.svg").stat().st_size > 1000


def test_overlay_draws_a_shared_baseline_once_and_each_run_of_a_model():
    """Two runs of a model called DPT with different curves: both drawn; their common baseline once."""
    a = {"methods": {"DPT": {"r": [1.0, 2.0], "r_ci95": [0.1, 0.1]}, "ucb": {"r": [1.0, 3.0], "r_ci95": [0.1, 0.1]}}}
    b = {"methods": {"DPT": {"r": [1.0, 1.5], "r_ci95": [0.1, 0.1]}, "ucb": {"r": [1.0, 3.0], "r_ci95": [0.1, 0.1]}}}
    assert [c[0] for c in curves([a, b], ["x", "y"], "r")] == ["DPT (x)", "ucb (x)", "DPT (y)"]
    assert [c[0] for c in curves([a], ["x"], "r", methods=["ucb"])] == ["ucb"]


def test_plot_errors(tmp_path):
    res = _bandit_results()
    with pytest.raises(ValueError, match="unknown method.*'thompson'.*\\['random', 'ucb'\\]"):
        plot_results(res, str(tmp_path / "x.png"), methods=["thompson"])
    room, _ = envs.make("darkroom", size=4, horizon=5)
    grid = evaluate_online(room, {"oracle": "oracle"}, room.task_pool("test"), jax.random.PRNGKey(0), 5)
    with pytest.raises(ValueError, match="different environments"):
        plot_results([res, grid], str(tmp_path / "x.png"))
    with pytest.raises(FileNotFoundError, match="no results file"):
        load_results(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_results(str(bad))
    bad.write_text(json.dumps({"methods": {}}))
    with pytest.raises(ValueError, match="not an icrl results file"):
        load_results(str(bad))


def test_offline_linear_bandit_baselines_use_the_arm_features():
    """On a linear bandit, ridge-greedy and linear-lcb read the arm features: from the same
    contexts they choose better arms than the per-arm empirical mean."""
    from icrl.evaluate import offline_bandit
    from icrl.models import TokenSpec, Transformer

    env, _ = envs.make("linear-bandit", dim=2, num_arms=10, horizon=20)
    spec = TokenSpec.for_env(env)
    model = Transformer(spec.token_dim, spec.num_actions, max_len=21, num_layers=1, num_heads=2, width=16)
    params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 2, spec.token_dim)))
    tasks = env.sample_tasks(jax.random.PRNGKey(1), 2000, "test")
    out = offline_bandit(env, model, spec, params, tasks, jax.random.PRNGKey(2), 20)
    assert set(out) == {"model", "empirical-mean", "lcb", "ridge-greedy", "linear-lcb"}
    for name in ("ridge-greedy", "linear-lcb"):
        gap = out["empirical-mean"]["suboptimality"] - out[name]["suboptimality"]
        assert gap > out["empirical-mean"]["suboptimality_ci95"], (name, out)


def test_student_t_intervals_across_seeds():
    """Quantiles of Student's t (from scipy) at known values, and an interval by hand."""
    from icrl.metrics import mean_ci95_t, t_quantile_975

    np.testing.assert_allclose([t_quantile_975(1), t_quantile_975(2), t_quantile_975(30)], [12.706, 4.303, 2.042], atol=1e-3)
    assert abs(t_quantile_975(10_000) - 1.960) < 1e-3
    mean, ci = mean_ci95_t(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose([mean, ci], [2.0, 4.3027 / np.sqrt(3)], rtol=1e-4)
    assert mean_ci95_t(np.array([5.0]))[1] == 0.0


def test_plot_titles_say_the_evaluation_in_words():
    from icrl.plot import describe

    room = {"env": {"name": "darkroom", "kwargs": {"size": 7, "horizon": 49}, "horizon": 49}, "num_tasks": 207, "num_goals": 9,
            "split": "test", "methods": {"AD": {"episode_return": [1.0]}}}
    assert describe(room) == "Dark Room 7×7, 49-step episodes — 9 held-out goals × 23 keys"
    bandit = {"env": {"name": "bernoulli-bandit", "kwargs": {"num_arms": 5, "horizon": 100}, "horizon": 100}, "num_tasks": 1000,
              "split": "train", "methods": {"DPT": {"cumulative_regret": [1.0]}}}
    assert describe(bandit) == "Bernoulli bandit, 5 arms, 100 pulls — 1,000 training-split tasks"
