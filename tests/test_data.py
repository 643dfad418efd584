import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from icrl.data import load_dataset, save_dataset
from icrl.models import TokenSpec
from icrl.objectives import sample_tasks
from icrl.types import History, Samples
from train.methods.ad.data import make_ad_dataset
from train.methods.ad.objective import ADObjective
from train.methods.dpt.data import make_dpt_dataset
from train.methods.dpt.objective import DPTObjective


def test_dpt_dataset_is_deterministic_and_labels_agree_with_oracle():
    env, _ = envs.make("bernoulli-bandit", num_arms=4, horizon=20)
    a = make_dpt_dataset(env, jax.random.PRNGKey(0), 50, 20)
    b = make_dpt_dataset(env, jax.random.PRNGKey(0), 50, 20)
    chex.assert_trees_all_equal(a.samples, b.samples)
    assert a.history.obs.shape == (50, 20, 1) and a.labels.shape == (50, 21)  # prefixes of 0..20 transitions
    tasks = env.sample_tasks(jax.random.split(jax.random.PRNGKey(0), 3)[0], 50, "train")
    np.testing.assert_array_equal(a.labels, np.broadcast_to(np.argmax(tasks.means, 1)[:, None], (50, 21)))
    assert a.meta["kind"] == "dpt" and a.meta["source"]["name"] == "dirichlet"


def test_dpt_dataset_from_a_mixture_of_collectors():
    """A quarter of the contexts from UCB, the rest Dirichlet-random: the shares are exact,
    UCB's contexts pull the best arm more often, and a dict of weights gives the same data."""
    env, _ = envs.make("bernoulli-bandit", num_arms=4, horizon=50)
    key = jax.random.PRNGKey(2)
    data = make_dpt_dataset(env, key, 400, 50, collector="dirichlet:3,ucb:1")
    assert data.meta["collectors"] == ["dirichlet", "ucb"] and data.meta["source"]["name"] == "dirichlet:3,ucb:1"
    ids = data.extras["collector"]
    assert (ids == 0).sum() == 300 and (ids == 1).sum() == 100
    best = data.labels[:, :1]
    best_share = (data.history.action == best).mean(1)
    assert best_share[ids == 1].mean() > best_share[ids == 0].mean() + 0.1
    again = make_dpt_dataset(env, key, 400, 50, collector={"dirichlet": 0.75, "ucb": 0.25})
    chex.assert_trees_all_equal(data.samples, again.samples)
    np.testing.assert_array_equal(data.extras["collector"], again.extras["collector"])
    for bad, match in [("dirichlet:x", "not a number"), ("dirichlet:0,ucb:1", "positive weights"), ("dirichlet,dqn", "unknown agent 'dqn'")]:
        with pytest.raises(ValueError, match=match):
            make_dpt_dataset(env, key, 10, 5, collector=bad)


def test_darkroom_dpt_labels_are_shortest_path_actions():
    env, _ = envs.make("darkroom", size=5, horizon=10)
    data = make_dpt_dataset(env, jax.random.PRNGKey(1), 40, 10)
    tasks = env.sample_tasks(jax.random.split(jax.random.PRNGKey(1), 3)[0], 40, "train")
    q, labels, goal = data.queries, data.labels, np.asarray(tasks.goal)[:, None]
    moves = np.array([[0, 1], [0, -1], [1, 0], [-1, 0], [0, 0]])
    dist = lambda p: np.abs(p - goal).sum(-1)
    after = np.clip(q + moves[labels], 0, 4)
    at_goal = dist(q) == 0
    assert (dist(after)[~at_goal] == dist(q)[~at_goal] - 1).all()
    assert (labels[at_goal] == 4).all()


def test_ad_dataset_and_windows():
    env, _ = envs.make("darkroom", size=4, horizon=6)
    data = make_ad_dataset(env, jax.random.PRNGKey(0), 8, 10, source="q-learning")
    assert data.history.action.shape == (8, 60)
    spec = TokenSpec.for_env(env)
    obj = ADObjective(spec, horizon=6, context_episodes=3, episode_stride=2)
    obj.check(data.meta)
    arrays = jax.tree.map(jnp.asarray, data.samples)
    tokens, resets, labels = jax.jit(lambda a, k: obj.sample_batch(a, k, 5))(arrays, jax.random.PRNGKey(3))
    assert tokens.shape == (5, 18, spec.token_dim) and labels.shape == (5, 18) and resets is None
    # every window is three whole episodes two apart from one history: find it
    acts = np.asarray(data.history.action).reshape(8, 10, 6)
    for row in np.asarray(labels):
        w = row.reshape(3, 6)
        assert any(all((acts[t, e + 2 * i] == w[i]).all() for i in range(3)) for t in range(8) for e in range(10 - 4))
    with pytest.raises(ValueError, match="spans 9 episodes"):
        ADObjective(spec, 6, 5, 2).check({"num_episodes": 8})
    obj = ADObjective(spec, horizon=6, context_episodes=2, episode_resets=True)
    _, resets, _ = obj.sample_batch(arrays, jax.random.PRNGKey(0), 2)
    np.testing.assert_array_equal(np.asarray(resets)[0], np.arange(12) == 6)


def test_ad_windows_of_steps_begin_at_every_step_they_fit_after():
    """window_steps=4 in episodes of 6: each window is 4 consecutive steps of one history, beginning anywhere (mid-episode,
    in the last episode's tail), and a window that needs more steps than the histories hold is refused."""
    env, _ = envs.make("darkroom", size=4, horizon=6)
    spec = TokenSpec.for_env(env)
    steps = np.arange(30)
    marked = Samples(History(np.zeros((3, 30, 2), np.int32), np.broadcast_to(steps % 5, (3, 30)).astype(np.int32),
                             (1000 * np.arange(3)[:, None] + steps + 1).astype(np.float32), np.zeros((3, 30, 2), np.int32),
                             np.broadcast_to(steps % 6 == 5, (3, 30))))
    obj = ADObjective(spec, horizon=6, context_episodes=1, window_starts="step", window_steps=4)
    obj.check({"num_episodes": 5})
    tokens, resets, labels = obj.sample_batch(marked, jax.random.PRNGKey(0), 400)
    assert tokens.shape == (400, 4, spec.token_dim) and resets is None
    reward = np.asarray(tokens[..., 2 * spec.obs_dim + spec.num_actions])  # token t holds step t - 1's reward: 1000 task + t
    first = reward[:, 1] % 1000 - 1
    np.testing.assert_array_equal(reward[:, 1:] % 1000 - 1, first[:, None] + np.arange(3))
    assert (reward[:, 1:] // 1000 == reward[:, 1:2] // 1000).all()  # one history
    np.testing.assert_array_equal(np.asarray(labels), (first[:, None] + np.arange(4)) % 5)
    assert first.min() == 0 and first.max() == 26 and len(set(first % 6)) == 6
    with pytest.raises(ValueError, match="a window of 40 steps is longer than the histories of 5 episodes of 6 steps"):
        ADObjective(spec, 6, 1, window_starts="step", window_steps=40).check({"num_episodes": 5})
    with pytest.raises(ValueError, match="needs window_starts='step' and context_episodes=1"):
        ADObjective(spec, 6, 2, window_starts="step", window_steps=4)


def test_save_load_roundtrip_and_errors(tmp_path):
    env, _ = envs.make("bernoulli-bandit", num_arms=3, horizon=10)
    data = make_dpt_dataset(env, jax.random.PRNGKey(0), 6, 10)
    path = str(tmp_path / "d.npz")
    save_dataset(data, path)
    back = load_dataset(path, env, "dpt")
    assert back.meta == data.meta
    chex.assert_trees_all_equal(back.samples, data.samples)
    other, _ = envs.make("bernoulli-bandit", num_arms=5, horizon=10)
    with pytest.raises(ValueError, match="num_actions=3.*has num_actions=5"):
        load_dataset(path, other)
    with pytest.raises(ValueError, match="'dpt' dataset, expected 'ad'"):
        load_dataset(path, env, "ad")
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        load_dataset(str(tmp_path / "nope.npz"))
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file at all")
    with pytest.raises(ValueError, match="not a readable icrl dataset"):
        load_dataset(str(bad))
    with pytest.raises(ValueError, match="no query-state distribution"):
        make_dpt_dataset(envs.make("keydoor")[0], jax.random.PRNGKey(0), 2, 10)


def test_a_batch_carries_the_extras_the_dataset_names_and_old_files_their_per_step_ones():
    """Samples.extras holds what meta["sample_extras"] names (a method's per-step inputs), nothing else; a file made
    before datasets named them gives its per-step extras ((tasks, T, ...)), as the objective that made it read them."""
    from icrl.data import Dataset

    history = History(*(np.zeros((4, 6)) for _ in range(5)))
    extras = {"conditions": np.ones((4, 6, 3)), "behaviour": np.full((4, 6), 0.5), "optimal_return": np.ones(4),
              "epsilon": np.zeros((4, 2))}
    named = Dataset(history, extras=extras, meta={"sample_extras": ["behaviour"]}).samples
    assert sorted(named.extras) == ["behaviour"]
    assert Dataset(history, extras=extras, meta={"sample_extras": []}).samples.extras is None
    old = Dataset(history, extras=extras, meta={}).samples
    assert sorted(old.extras) == ["behaviour", "conditions"]


def test_lhf_ranks_steady_improvement_first_and_weights_follow_scores():
    """By hand: a steady climb outranks a flat history and an erratic one that ends as high; the
    weights rescale the scores to [0, 1], filtering the worst, and keep_fraction filters more."""
    from icrl.data import lhf_scores, lhf_weights

    returns = np.array([
        [0.0, 0.25, 0.5, 0.75, 1.0, 1.0, 1.0, 1.0],  # steady climb
        [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5],  # flat
        [0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0],  # erratic
    ])
    s = lhf_scores(returns, stability_weight=1.0)
    np.testing.assert_allclose(s["improvement"], [0.875, 0.0, 0.0])
    np.testing.assert_allclose(s["stability"], [0.0, 0.0, -3 / 7])
    assert s["score"][0] > s["score"][1] > s["score"][2]
    np.testing.assert_allclose(lhf_weights(s["score"]), [1.0, (0 + 3 / 7) / (0.875 + 3 / 7), 0.0], rtol=1e-6)
    np.testing.assert_array_equal(lhf_weights(s["score"], keep_fraction=1 / 3) > 0, [True, False, False])
    np.testing.assert_array_equal(lhf_weights(np.zeros(4)), 1.0)


def test_lhf_sampling_on_device_follows_the_weights():
    """The training sampler draws histories in proportion to their LHF weights (binomial bound)."""
    from icrl.data import apply_lhf

    env, _ = envs.make("darkroom", size=4, horizon=6)
    data = apply_lhf(make_ad_dataset(env, jax.random.PRNGKey(0), 12, 8, noisy_fraction=0.5, noise_epsilon=1.0))
    weights = data.extras["lhf_weight"] / data.extras["lhf_weight"].sum()
    assert data.extras["noisy"].sum() == 6
    samples = jax.tree.map(jnp.asarray, data.samples)
    idx = jax.jit(lambda k: sample_tasks(samples, k, 20000))(jax.random.PRNGKey(1))
    freq = np.bincount(np.asarray(idx), minlength=12) / 20000
    np.testing.assert_allclose(freq, weights, atol=4 * np.sqrt(0.25 / 20000))
    assert freq[weights == 0].sum() == 0


def test_experiment_data_carries_lhf_weights_and_degraded_histories_weigh_less():
    """``--lhf --noisy-fraction`` reach the data an experiment trains on: weights in the
    samples the step draws from, and histories acting at random (epsilon up to 1) weigh
    less on average than the clean source's; the plain config has no weights."""
    from train.configs import config_for
    from train.experiments import _make_data

    cfg = config_for("darkroom-ad", size=4, horizon=8, history_episodes=8, noisy_fraction=0.5, noise_epsilon=1.0,
                     lhf=True, lhf_keep=0.75)
    env, _ = envs.make("darkroom", size=4, horizon=8)
    data = _make_data(cfg, env, jax.random.PRNGKey(0), 64)
    weights, noisy = data.samples.weights, data.extras["noisy"]
    assert weights.shape == (64,) and (weights == 0).sum() >= 16 and data.meta["lhf"]["keep_fraction"] == 0.75
    assert weights[noisy].mean() < weights[~noisy].mean()
    plain = _make_data(config_for("darkroom-ad", size=4, horizon=8, history_episodes=8), env, jax.random.PRNGKey(0), 8)
    assert plain.samples.weights is None


def test_lhf_refuses_single_episode_histories_and_breaks_ties_at_random():
    """With one episode every history scores 0: LHF refuses rather than keep the first indices (a
    DPT mixture's first collector). Among equal scores the cut falls at random, not by index, and
    the same seed cuts the same way."""
    from icrl.data import lhf_scores, lhf_weights
    from train import config_for

    with pytest.raises(ValueError, match="at least 2 episodes"):
        lhf_scores(np.zeros((8, 1)))
    with pytest.raises(ValueError, match="context_episodes >= 2, got 1"):
        config_for("bandit-dpt-s5", lhf_keep=0.75, data_source="fixed")
    with pytest.raises(ValueError, match="does not apply to RL2"):
        config_for("bandit-rl2-s5", lhf=True)
    with pytest.raises(ValueError, match="does not apply to ICEE"):
        config_for("darkroom9-icee", lhf=True)
    kept = lhf_weights(np.zeros(400), keep_fraction=0.75) > 0
    assert kept.sum() == 300
    assert 60 < kept[:200].sum() < 240 and 60 < kept[200:].sum() < 240  # not the first 300 indices
    np.testing.assert_array_equal(kept, lhf_weights(np.zeros(400), keep_fraction=0.75) > 0)
    assert not np.array_equal(kept, lhf_weights(np.zeros(400), keep_fraction=0.75, seed=1) > 0)


def test_lhf_weights_are_drawn_alike_on_one_and_two_devices():
    """Weights [0, 0, 0, 0, 1, 1, 1, 1]: on two devices, each holding half of the tasks, no draw
    may come from tasks 0-3 (a device whose half weighs nothing must not draw its task 0), and
    the draws follow the weights as on one device (binomial bound)."""
    from icrl.training import TrainConfig, Trainer

    n, T = 8, 3
    ids = np.repeat(np.arange(n, dtype=np.int32)[:, None], T, axis=1)  # each task's actions are its index
    obs = np.zeros((n, T, 1), np.float32)
    history = History(obs, ids, np.zeros((n, T), np.float32), obs, np.zeros((n, T), bool))
    samples = Samples(history, np.zeros((n, T + 1, 1), np.float32), np.repeat(np.arange(n, dtype=np.int32)[:, None], T + 1, 1),
                      np.array([0, 0, 0, 0, 1, 1, 1, 1], np.float32))
    spec = TokenSpec(obs_dim=1, num_actions=n)
    counts = {}
    for devices in (1, 2):
        trainer = Trainer(None, DPTObjective(spec), TrainConfig(batch_size=64, num_devices=devices))
        data = trainer.put_data(samples)
        labels = np.concatenate([np.asarray(trainer.batch(step, data)[2])[:, 0] for step in range(40)])
        counts[devices] = np.bincount(labels, minlength=n) / len(labels)
    for devices, freq in counts.items():
        assert freq[:4].sum() == 0, f"{devices} device(s) drew tasks of weight 0: {freq}"
        np.testing.assert_allclose(freq[4:], 0.25, atol=4 * np.sqrt(0.25 * 0.75 / 2560))


def test_validation_data_of_an_lhf_run_is_neither_filtered_nor_weighted():
    """The validation loss of an LHF run is measured on the same unweighted data as a plain run's."""
    from train import config_for
    from train.experiments import validation_data

    small = dict(num_train_tasks=64, history_episodes=4, context_episodes=2, size=4, horizon=6, noisy_fraction=0.5)
    plain, lhf = (config_for("darkroom-ad", **small, **extra) for extra in ({}, {"lhf": True, "lhf_keep": 0.5}))
    env, _ = envs.make("darkroom", size=4, horizon=6)
    a, b = validation_data(plain, env), validation_data(lhf, env)
    assert b.samples.weights is None and "lhf_weight" not in b.extras
    np.testing.assert_array_equal(a.history.action, b.history.action)
