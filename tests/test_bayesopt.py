"""Bayesian optimisation in context: the Gaussian-process task distribution, queries and simple regret,
GP expected improvement, and what ICEE reads of the environment (its return floor and tolerance)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs.bayesopt import grid_cosines, matern52
from icrl.agents import make_agent
from icrl.agents.gp import GPState, expected_improvement, posterior
from icrl.models import TokenSpec, Transformer
from icrl.rollout import rollout, simple_regret
from icrl.types import History
from train.methods.icee.agent import ICEEAgent
from train.methods.icee.data import icee_conditions, make_icee_dataset
from train.methods.icee.objective import icee_token_conditions


@pytest.fixture(scope="module")
def small():
    return envs.make("bayesopt", size=4, horizon=1, lengthscale=0.3)[0]


def test_matern52_by_hand():
    """k(0) = σ²; at r = ℓ, (1 + √5 + 5/3) e^{-√5} σ² = 0.52399 σ²."""
    np.testing.assert_allclose(matern52(np.array([0.0, 0.2]), 0.2, 2.0), [2.0, 2.0 * 0.523994], rtol=1e-5)


def test_functions_follow_the_prior_and_the_splits_are_different_streams(small):
    """4,000 draws on 16 candidates: mean 0 and covariance the kernel's, within what 4,000 draws allow
    (an entry's standard error is below 0.03); the same key gives the same functions, the test
    split other ones."""
    values = np.asarray(small.sample_tasks(jax.random.PRNGKey(0), 4000, "train").values)
    assert values.shape == (4000, 16)
    np.testing.assert_allclose(values.mean(0), 0.0, atol=0.06)
    np.testing.assert_allclose(np.cov(values.T), small.kernel, atol=0.1)
    again = np.asarray(small.sample_tasks(jax.random.PRNGKey(0), 4000, "train").values)
    test = np.asarray(small.sample_tasks(jax.random.PRNGKey(0), 4000, "test").values)
    np.testing.assert_array_equal(values, again)
    assert not np.isclose(values, test).any(axis=1).all()


def test_queries_earn_the_function_where_they_were_made(small):
    """The oracle queries the maximum every step (no regret); a random query's reward is the value
    at the candidate it names, and the observation after it is that candidate's place."""
    tasks = small.sample_tasks(jax.random.PRNGKey(1), 8)
    h = rollout(small, make_agent("oracle", small), tasks, jax.random.PRNGKey(2), num_steps=3)
    np.testing.assert_allclose(h.reward, np.repeat(np.asarray(tasks.values).max(1, keepdims=True), 3, 1), rtol=1e-6)
    np.testing.assert_allclose(h.regret, 0.0, atol=1e-6)
    h = rollout(small, make_agent("random", small), tasks, jax.random.PRNGKey(2), num_steps=5)
    a = np.asarray(h.action)
    np.testing.assert_allclose(h.reward, np.take_along_axis(np.asarray(tasks.values), a, 1), rtol=1e-6)
    np.testing.assert_allclose(h.next_obs[..., 0], (a % 4 + 0.5) / 4)
    np.testing.assert_allclose(h.next_obs[..., 1], (a // 4 + 0.5) / 4)
    np.testing.assert_array_equal(h.next_obs[..., 2], 1.0)
    np.testing.assert_array_equal(h.obs, 0.0)  # every query an episode of its own: each starts before any query
    features = np.asarray(small.obs_features(jnp.asarray(h.next_obs[0, 0])))
    assert features.shape == (small.obs_feature_dim,) and features[3 + a[0, 0] % 4] == 1 and features[7 + a[0, 0] // 4] == 1


def test_simple_regret_is_the_best_query_so_far_by_hand():
    regret = jnp.array([[3.0, 1.0, 2.0, 0.5, 0.7]])
    zeros = jnp.zeros_like(regret)
    h = History(zeros, zeros.astype(jnp.int32), zeros, zeros, zeros.astype(bool), regret=regret)
    np.testing.assert_allclose(simple_regret(h), [[3.0, 1.0, 1.0, 0.5, 0.5]])


def test_gp_posterior_and_expected_improvement_by_hand(small):
    """At observed candidates the posterior mean is the value seen and the deviation next to 0; away
    from them the deviation approaches the prior's. EI(μ=0, σ=1, best=0) = φ(0) = 0.39894; far above
    the best with no doubt it is the gap itself."""
    kernel = jnp.asarray(small.kernel, jnp.float32)
    state = GPState(jnp.array([0, 15, 0, 0], jnp.int32), jnp.array([1.5, -0.5, 0.0, 0.0]), jnp.array(2))
    mu, sd = posterior(kernel, 0.0, 1e-6, state)
    np.testing.assert_allclose([mu[0], mu[15]], [1.5, -0.5], atol=1e-3)
    assert sd[0] < 0.01 and sd[15] < 0.01 and 0.3 < sd[5] < 1.0
    nothing = GPState(jnp.zeros(4, jnp.int32), jnp.zeros(4), jnp.array(0))  # no observation: the prior
    mu0, sd0 = posterior(kernel, 0.7, 1e-6, nothing)
    np.testing.assert_allclose(mu0, 0.7, atol=1e-6)
    np.testing.assert_allclose(sd0, 1.0, atol=1e-5)
    np.testing.assert_allclose(expected_improvement(jnp.array([0.0, 2.0]), jnp.array([1.0, 1e-6]), jnp.array(0.0)),
                               [1 / math.sqrt(2 * math.pi), 2.0], rtol=1e-5)


def test_gp_expected_improvement_beats_random_search():
    """On 100 held-out functions of a 16 x 16 grid, 15 queries: GP-EI's simple regret is under half of
    random search's, with the same keys (fixed seeds)."""
    env = envs.make("bayesopt", size=16, horizon=1)[0]
    tasks = env.sample_tasks(jax.random.PRNGKey(3), 100, "test")
    regret = {name: float(simple_regret(rollout(env, make_agent(name, env, **kw), tasks, jax.random.PRNGKey(4), num_steps=15))[:, -1].mean())
              for name, kw in (("random", {}), ("gp-ei", {"max_queries": 15}))}
    assert regret["gp-ei"] < 0.5 * regret["random"], regret


def test_gp_expected_improvement_refuses_what_it_cannot_do(small):
    with pytest.raises(ValueError, match="Gaussian-process prior"):
        make_agent("gp-ei", envs.make("darkroom", size=5, horizon=10)[0])
    with pytest.raises(ValueError, match="max_queries=4 observations; a rollout of 5 steps"):
        rollout(small, make_agent("gp-ei", small, max_queries=4), small.sample_tasks(jax.random.PRNGKey(0), 2), jax.random.PRNGKey(1), num_steps=5)
    with pytest.raises(ValueError, match="lengthscale must be > 0"):
        envs.make("bayesopt", size=4, lengthscale=0.0)


def test_icee_reads_the_return_floor_and_tolerance():
    """One-query episodes of returns -1, -2, -0.5, -0.5, with the best -0.2 each time. With the grid
    worlds' floor 0 no query earns the flag (none beats an empty episode); with Bayesian
    optimisation's −∞ the first does, then those at least as good as every earlier one. Shortfalls
    0.8, 1.8, 0.3, 0.3: within the grid worlds' tolerance 0.5 the last two count as the best; with
    a continuous function's tolerance none does."""
    rewards = jnp.array([-1.0, -2.0, -0.5, -0.5])
    best = jnp.full(4, -0.2)
    grid = np.asarray(icee_conditions(rewards, 1, best))
    bo = np.asarray(icee_conditions(rewards, 1, best, -math.inf, 1e-6))
    np.testing.assert_array_equal(grid[:, 2], [0, 0, 0, 0])
    np.testing.assert_array_equal(bo[:, 2], [1, 0, 1, 1])
    np.testing.assert_array_equal(grid[:, 0], [0, 0, 1, 1])
    np.testing.assert_array_equal(bo[:, 0], [0, 0, 0, 0])
    np.testing.assert_allclose(bo[:, 1], [0.8, 1.8, 0.3, 0.3], rtol=1e-5)
    strict = np.asarray(icee_conditions(rewards, 1, best, -math.inf, 1e-6, strict=True))
    np.testing.assert_array_equal(strict[:, 2], [1, 0, 1, 0])  # the repeated -0.5 ties: no flag


def test_grid_cosines_are_an_orthonormal_basis_of_the_candidates_and_code_the_queries():
    """On a 6 x 6 grid the 4 x 4 products of cosines, over the 36 candidates, are orthonormal (times
    √36: the 2-D DCT-II); a query's features end with its candidate's, and are zeros before any."""
    env = envs.make("bayesopt", size=6, horizon=1, basis=4)[0]
    phi = np.asarray(grid_cosines(env.coords[:, 0], env.coords[:, 1], 4))  # (36, 16)
    np.testing.assert_allclose(phi.T @ phi / 36, np.eye(16), atol=1e-5)
    # candidate 13: column 1, row 2; feature (row cosine 1, column cosine 3)
    np.testing.assert_allclose(phi[13, 4 * 1 + 3], 2 * math.cos(math.pi * 2.5 / 6) * math.cos(math.pi * 3 * 1.5 / 6), rtol=1e-5)
    obs = jnp.concatenate([jnp.asarray(env.coords, jnp.float32), jnp.ones((36, 1))], -1)
    features = np.asarray(env.obs_features(obs))
    assert env.obs_feature_dim == features.shape[-1] == 3 + 16
    np.testing.assert_allclose(features[:, 3:], phi, atol=1e-6)
    np.testing.assert_array_equal(env.obs_features(jnp.zeros(3)), np.zeros(19))
    with pytest.raises(ValueError, match="basis=7"):
        envs.make("bayesopt", size=6, basis=7)
    from train.configs import config_for, replace

    with pytest.raises(ValueError, match="basis=4 codes"):
        replace(config_for("darkroom9-icee"), basis=4)


def test_a_smooth_head_scores_each_candidate_in_the_grid_basis(small):
    """A transformer with ``output_basis`` K over a 4 x 4 grid: its 16 logits are a learned bias plus its
    head's K x K coefficients times the candidates' grid cosines, candidate ``a`` at column ``a % 4`` and
    row ``a // 4`` as the environment places it; a grid that is not square, or too many cosines, is refused."""
    model = Transformer(5, 16, max_len=8, num_layers=1, num_heads=1, width=8, output_basis=3)
    tokens = jax.random.normal(jax.random.PRNGKey(0), (2, 3, 5))
    params = model.init(jax.random.PRNGKey(1), tokens)
    params = jax.tree.map(lambda x: x + jax.random.normal(jax.random.PRNGKey(2), x.shape), params)  # no zero bias
    logits, state = model.apply(params, tokens, capture_intermediates=True)
    coefficients = state["intermediates"]["head"]["__call__"][0]  # (2, 3, 9)
    phi = np.asarray(grid_cosines(small.coords[:, 0], small.coords[:, 1], 3))  # (16, 9)
    expected = np.asarray(coefficients) @ phi.T + np.asarray(params["params"]["output_bias"])
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-4)
    for outputs, basis in ((15, 2), (16, 5)):
        with pytest.raises(ValueError, match="output_basis"):
            Transformer(5, outputs, max_len=8, output_basis=basis).init(jax.random.PRNGKey(1), tokens)


def test_a_strict_agent_relabels_a_repeated_best_query_without_the_flag(small):
    """An untrained model queries 8 functions of 16 candidates 10 times, and some query repeats the best
    so far. The strict agent's next logits equal the parallel model's on the history whose finished
    queries carry the strict flags, which differ there from the flags that count ties."""
    spec = TokenSpec(small.obs_feature_dim, small.num_actions, small.obs_features, num_conditions=4)
    model = Transformer(spec.token_dim, spec.num_actions, max_len=16, num_layers=1, num_heads=1, width=8)
    params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 2, spec.token_dim)))
    agent = ICEEAgent(params, model, spec, horizon=1, floor=-math.inf, strict=True)
    tasks = small.sample_tasks(jax.random.PRNGKey(1), 8, "test")
    history, state = rollout(small, agent, tasks, jax.random.PRNGKey(2), num_episodes=10, return_agent_state=True)
    strict = icee_conditions(history.reward, 1, jnp.zeros_like(history.reward), -math.inf, 1e-6, strict=True)
    ties = icee_conditions(history.reward, 1, jnp.zeros_like(history.reward), -math.inf, 1e-6)
    assert np.any(strict[..., 2] != ties[..., 2])  # some repeated query tied with the best
    obs = jnp.zeros(3)
    for i in range(8):
        s, h = jax.tree.map(lambda x: x[i], state), jax.tree.map(lambda x: x[i], history)
        conditions = jnp.concatenate([icee_token_conditions(strict[i], jnp.zeros(10)), jnp.array([[1.0, 1.0, 0.0, 1.0]])])
        tokens = spec.tokens(h._replace(regret=None, info=None), jnp.concatenate([h.obs, obs[None]]), conditions)
        np.testing.assert_allclose(agent.action_logits(s, obs), model.apply(params, tokens[None])[0, -1], rtol=1e-4, atol=1e-4)


def test_icee_data_and_agent_on_bayesopt(small):
    """ICEE's data on functions: the oracle's queries fall short of nothing, the first query of a
    sequence always earns the flag; the deployed agent takes the environment's floor."""
    from train.configs import config_for
    from train.experiments import build

    data = make_icee_dataset(small, jax.random.PRNGKey(0), 32, 6)
    c, actions = data.extras["conditions"], np.asarray(data.history.action)
    best = np.asarray(small.sample_tasks(jax.random.split(jax.random.PRNGKey(0))[0], 32, "train").values).argmax(1)
    np.testing.assert_array_equal(c[..., 0], actions == best[:, None])
    np.testing.assert_array_equal(c[:, 0, 2], 1)
    for preset, floor in (("bayesopt-icee", -math.inf), ("darkroom9-icee", 0.0)):
        cfg = config_for(preset, size=4 if preset.startswith("bayesopt") else 9)
        setup = build(cfg)
        params = setup.model.init(jax.random.PRNGKey(0), jnp.zeros((1, 2, setup.spec.token_dim)))
        (agent,) = cfg.method_def.agents(cfg, params, setup.model, setup.spec).values()
        assert agent.floor == floor and agent.horizon == setup.env.horizon


def test_evaluation_reports_simple_regret(small):
    """The evaluation's simple regret per step is the mean over tasks of the rollout's (same tasks, same
    keys); the terminal table shows it for Bayesian optimisation and leaves it out for other bandits."""
    from icrl.evaluate import evaluate_online
    from icrl.results import format_table

    tasks = small.sample_tasks(jax.random.PRNGKey(5), 16, "test")
    results = evaluate_online(small, {"random": "random"}, tasks, jax.random.PRNGKey(6), 6)
    expected = np.asarray(simple_regret(rollout(small, make_agent("random", small), tasks, jax.random.PRNGKey(6), 6))).mean(0)
    np.testing.assert_allclose(results["methods"]["random"]["simple_regret"], expected, rtol=1e-5)
    assert "simple" in format_table(results)
    bandit = envs.make("bernoulli-bandit", num_arms=3, horizon=5)[0]
    plain = evaluate_online(bandit, {"random": "random"}, bandit.sample_tasks(jax.random.PRNGKey(0), 8), jax.random.PRNGKey(1), 5)
    assert "simple_regret" in plain["methods"]["random"] and "simple" not in format_table(plain)
