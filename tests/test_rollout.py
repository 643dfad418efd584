import chex
import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from icrl import History, cumulative_regret, episode_returns, make_agent, rollout, rollout_task


def _task(params, i):
    return jax.tree.map(lambda x: x[i], params)


@pytest.mark.parametrize(
    "env_name,agent_name,kw",
    [("bernoulli-bandit", "thompson", dict(num_arms=3, horizon=30)), ("darkroom", "q-learning", dict(size=4, horizon=10))],
)
def test_vmapped_rollout_equals_loop_over_tasks(env_name, agent_name, kw):
    env, _ = envs.make(env_name, **kw)
    agent = make_agent(agent_name, env)
    tasks = env.sample_tasks(jax.random.PRNGKey(0), 4, "test")
    key = jax.random.PRNGKey(42)
    batch = rollout(env, agent, tasks, key, num_episodes=3)
    keys = jax.random.split(key, 4)
    for i in range(4):
        single = rollout_task(env, agent, _task(tasks, i), keys[i], num_episodes=3)
        chex.assert_trees_all_close(_task(batch, i), single)


def test_history_shapes_and_determinism():
    env, _ = envs.make("darkroom", size=5, horizon=8)
    agent = make_agent("random", env)
    tasks = env.sample_tasks(jax.random.PRNGKey(0), 6)
    h = rollout(env, agent, tasks, jax.random.PRNGKey(1), num_episodes=2)
    chex.assert_shape([h.obs, h.next_obs], (6, 16, 2))
    chex.assert_shape([h.action, h.reward, h.done], (6, 16))
    assert h.regret is None and h.action.dtype == jnp.int32 and h.reward.dtype == jnp.float32
    np.testing.assert_array_equal(h.done[0], np.arange(16) % 8 == 7)
    # next_obs of a step is the next step's obs, except across an episode end (reset to start)
    np.testing.assert_array_equal(h.next_obs[:, :7], h.obs[:, 1:8])
    np.testing.assert_array_equal(h.obs[:, 8], np.broadcast_to(env.start_pos(), (6, 2)))
    chex.assert_trees_all_equal(h, rollout(env, agent, tasks, jax.random.PRNGKey(1), num_episodes=2))
    other = rollout(env, agent, tasks, jax.random.PRNGKey(2), num_episodes=2)
    assert not np.array_equal(h.action, other.action)


def test_oracle_has_zero_regret_and_optimal_return():
    bandit, _ = envs.make("gaussian-bandit", num_arms=5, horizon=50)
    tasks = bandit.sample_tasks(jax.random.PRNGKey(0), 32, "test")
    h = rollout(bandit, make_agent("oracle", bandit), tasks, jax.random.PRNGKey(1), num_episodes=1)
    np.testing.assert_array_equal(cumulative_regret(h), 0.0)
    for name in ["darkroom", "keydoor"]:
        env, _ = envs.make(name)
        tasks = env.task_pool("test")
        h = rollout(env, make_agent("oracle", env), tasks, jax.random.PRNGKey(1), num_episodes=3)
        returns = episode_returns(h, env.horizon)
        optimal = jax.vmap(env.optimal_return)(tasks)
        np.testing.assert_allclose(returns, np.broadcast_to(optimal[:, None], returns.shape))


def test_regret_is_expected_gap_of_chosen_arm():
    env, _ = envs.make("bernoulli-bandit", num_arms=3, horizon=20)
    tasks = env.sample_tasks(jax.random.PRNGKey(0), 5)
    h = rollout(env, make_agent("random", env), tasks, jax.random.PRNGKey(1), num_steps=20)
    means = np.asarray(tasks.means)
    expected = means.max(1, keepdims=True) - np.take_along_axis(means, np.asarray(h.action), 1)
    np.testing.assert_allclose(h.regret, expected, rtol=1e-6)


def test_runs_on_gymnax_own_bandit():
    env, params = gymnax.make("BernoulliBandit-misc")
    tasks = jax.tree.map(lambda x: jnp.stack([jnp.asarray(x)] * 8), params)
    for name in ["random", "epsilon-greedy", "ucb"]:
        h = rollout(env, make_agent(name, env), tasks, jax.random.PRNGKey(0), num_steps=120)
        chex.assert_shape(h.action, (8, 120))
        assert set(np.unique(h.reward).tolist()) <= {0.0, 1.0} and h.regret is None
        assert int(h.done.sum()) == 8  # gymnax episodes last 100 steps
    with pytest.raises(ValueError, match="fixed episode length"):
        rollout(env, make_agent("random", env), tasks, jax.random.PRNGKey(0), num_episodes=2)


def test_rollout_rejects_bad_arguments():
    env, params = envs.make("bernoulli-bandit")
    agent = make_agent("ucb", env)
    tasks = env.sample_tasks(jax.random.PRNGKey(0), 2)
    with pytest.raises(ValueError, match="leading task axis"):
        rollout(env, agent, params, jax.random.PRNGKey(0), num_steps=5)
    with pytest.raises(ValueError, match="exactly one"):
        rollout(env, agent, tasks, jax.random.PRNGKey(0), num_steps=5, num_episodes=1)
    with pytest.raises(ValueError, match="num_steps.*-3"):
        rollout(env, agent, tasks, jax.random.PRNGKey(0), num_steps=-3)
    with pytest.raises(ValueError, match="unknown agent 'ucb2'.*thompson"):
        make_agent("ucb2", env)
    with pytest.raises(ValueError, match="linear bandit"):
        make_agent("linucb", env)
    with pytest.raises(ValueError, match="tabular"):
        make_agent("q-learning", env)


def test_cumulative_regret_and_episode_returns_by_hand():
    z = jnp.zeros((1, 6))
    h = History(z, z.astype(jnp.int32), jnp.array([[1.0, 0, 1, 1, 0, 0]]), z, z.astype(bool), jnp.array([[0.5, 0, 0.25, 0, 0, 1]]))
    np.testing.assert_allclose(cumulative_regret(h), [[0.5, 0.5, 0.75, 0.75, 0.75, 1.75]])
    np.testing.assert_allclose(episode_returns(h, 3), [[2.0, 1.0]])
    with pytest.raises(ValueError, match="whole number of episodes"):
        episode_returns(h, 4)
