import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from icrl import Transition, cumulative_regret, episode_returns, make_agent, rollout
from icrl.agents import BernoulliThompsonAgent, DirichletRandomAgent, LinUCBAgent, QLearningAgent, UCBAgent


def _final_regret(env, agent_name, tasks, num_steps, seed=1, **kw):
    h = rollout(env, make_agent(agent_name, env, **kw), tasks, jax.random.PRNGKey(seed), num_steps=num_steps)
    return np.asarray(cumulative_regret(h)).mean(0)


def _tr(action, reward):
    return Transition(jnp.zeros(1), jnp.int32(action), jnp.float32(reward), jnp.zeros(1), jnp.bool_(False))


def test_ucb_on_two_arms_by_hand():
    agent = UCBAgent(2, c=1.0)
    s = agent.init(None)
    key = jax.random.PRNGKey(0)
    a, s = agent.act(key, s, None)
    assert int(a) == 0  # untried arms first
    s = agent.update(s, _tr(0, 1.0))
    a, s = agent.act(key, s, None)
    assert int(a) == 1
    s = agent.update(s, _tr(1, 0.0))
    for action, reward in [(0, 0.0), (0, 0.0)]:
        s = agent.update(s, _tr(action, reward))
    # arm 0: 3 pulls mean 1/3; arm 1: 1 pull mean 0; t = 4
    score0 = 1 / 3 + np.sqrt(2 * np.log(4) / 3)
    score1 = 0.0 + np.sqrt(2 * np.log(4) / 1)
    assert score1 > score0
    assert int(agent.act(key, s, None)[0]) == 1
    s = agent.update(s, _tr(1, 0.0))
    s = agent.update(s, _tr(1, 0.0))  # arm 1: 3 pulls mean 0, t = 6 -> arm 0 wins
    assert int(agent.act(key, s, None)[0]) == 0


def test_thompson_samples_follow_the_posterior():
    agent = BernoulliThompsonAgent(2)
    s = agent.init(None)
    for _ in range(3):
        s = agent.update(s, _tr(0, 1.0))
    s = agent.update(s, _tr(1, 1.0))
    s = agent.update(s, _tr(1, 0.0))
    # arm 0 ~ Beta(4, 1), arm 1 ~ Beta(2, 2):
    # P(arm 0 best) = ∫ 6y(1-y) (1 - y^4) dy = 6 (1/2 - 1/3 - 1/6 + 1/7) = 6/7
    keys = jax.random.split(jax.random.PRNGKey(0), 40000)
    actions = jax.vmap(lambda k: agent.act(k, s, None)[0])(keys)
    assert abs(float((actions == 0).mean()) - 6 / 7) < 0.01


@pytest.mark.parametrize("env_name", ["bernoulli-bandit", "gaussian-bandit"])
def test_ucb_and_thompson_regret_is_sublinear_and_far_below_random(env_name):
    env, _ = envs.make(env_name, num_arms=5, horizon=500)
    tasks = env.sample_tasks(jax.random.PRNGKey(7), 200, "test")
    random = _final_regret(env, "random", tasks, 500)
    for name in ["ucb", "thompson"]:
        regret = _final_regret(env, name, tasks, 500)
        assert regret[-1] < 0.35 * random[-1], (name, regret[-1], random[-1])
        # the second half of the run adds far less regret than the first
        assert regret[-1] - regret[249] < 0.6 * regret[249], name
    assert _final_regret(env, "thompson", tasks, 500)[-1] < _final_regret(env, "ucb", tasks, 500)[-1]


def test_linear_agents_beat_random_on_linear_bandit():
    env, _ = envs.make("linear-bandit", dim=2, num_arms=10, horizon=200)
    tasks = env.sample_tasks(jax.random.PRNGKey(3), 200, "test")
    random = _final_regret(env, "random", tasks, 200)
    for name in ["linucb", "lin-thompson"]:
        regret = _final_regret(env, name, tasks, 200)
        assert regret[-1] < 0.3 * random[-1], (name, regret[-1], random[-1])
        assert regret[-1] - regret[99] < 0.7 * regret[99], name


def test_linucb_keeps_exact_inverse():
    env, _ = envs.make("linear-bandit", dim=3, num_arms=4)
    agent = LinUCBAgent(4, reg=0.5)
    s = agent.init(None, env.default_params)
    actions = [0, 1, 3, 3, 2, 0]
    for a in actions:
        s = agent.update(s, _tr(a, 1.0 + a))
    x = np.asarray(env.features)[actions]
    a_mat = 0.5 * np.eye(3) + x.T @ x
    np.testing.assert_allclose(s.a_inv, np.linalg.inv(a_mat), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(s.b, x.T @ (1.0 + np.array(actions)), rtol=1e-5)


def test_dirichlet_agent_follows_its_task_distribution():
    agent = DirichletRandomAgent(4, alpha=1.0)
    state = agent.init(jax.random.PRNGKey(5))
    probs = np.exp(np.asarray(state))
    np.testing.assert_allclose(probs.sum(), 1.0, rtol=1e-5)
    actions = jax.vmap(lambda k: agent.act(k, state, None)[0])(jax.random.split(jax.random.PRNGKey(0), 20000))
    np.testing.assert_allclose(np.bincount(actions, minlength=4) / 20000, probs, atol=0.015)
    other = np.exp(np.asarray(agent.init(jax.random.PRNGKey(6))))
    assert np.abs(other - probs).max() > 0.05  # each task its own distribution


def test_q_learning_improves_over_episodes_on_darkroom():
    env, _ = envs.make("darkroom")
    tasks = env.task_pool("test")
    h = rollout(env, make_agent("q-learning", env), tasks, jax.random.PRNGKey(0), num_episodes=40)
    returns = np.asarray(episode_returns(h, env.horizon)).mean(0)
    optimal = float(jax.vmap(env.optimal_return)(tasks).mean())
    assert returns[-5:].mean() > 0.6 * optimal
    assert returns[-5:].mean() > 3 * returns[:3].mean()
    random = episode_returns(rollout(env, make_agent("random", env), tasks, jax.random.PRNGKey(0), num_episodes=5), env.horizon)
    assert returns[-5:].mean() > 10 * float(random.mean())


def test_q_learning_with_reward_phases_learns_keydoor():
    env, _ = envs.make("keydoor")
    tasks = env.sample_tasks(jax.random.PRNGKey(1), 100, "test")
    h = rollout(env, make_agent("q-learning", env), tasks, jax.random.PRNGKey(0), num_episodes=300)
    returns = np.asarray(episode_returns(h, env.horizon)).mean(0)
    assert returns[-10:].mean() > 1.1 and returns[-10:].mean() > 3 * returns[:5].mean()


def test_q_learning_phase_indexing_by_hand():
    env, _ = envs.make("keydoor", size=3, horizon=5)
    agent = QLearningAgent.for_env(env, learning_rate=1.0, gamma=0.5, q_init=0.0)
    assert agent.num_phases == 3
    s = agent.init(None)
    tr = lambda o, a, r, n, d: Transition(jnp.array(o), jnp.int32(a), jnp.float32(r), jnp.array(n), jnp.bool_(d))
    s = agent.update(s, tr([1, 1], 0, 1.0, [1, 2], False))  # picks up the key: phase 0 -> 1
    assert int(s.phase) == 1 and float(s.q[env.obs_to_index(jnp.array([1, 1])), 0]) == 1.0
    s = agent.update(s, tr([1, 2], 2, 0.0, [2, 2], False))  # phase-1 row of cell (1, 2)
    assert float(s.q[9 + env.obs_to_index(jnp.array([1, 2])), 2]) == 0.0
    s = agent.update(s, tr([2, 2], 4, 1.0, [2, 2], True))  # door at the episode's end: back to phase 0
    assert int(s.phase) == 0 and float(s.q[9 + 8, 4]) == 1.0


def test_q_learning_update_by_hand():
    env, _ = envs.make("darkroom", size=3, horizon=5)
    agent = QLearningAgent.for_env(env, learning_rate=0.5, gamma=0.9, q_init=0.0)
    s = agent.init(None)
    s = s.replace(q=s.q.at[env.obs_to_index(jnp.array([2, 1])), 4].set(2.0))
    s = agent.update(s, Transition(jnp.array([1, 1]), jnp.int32(2), jnp.float32(1.0), jnp.array([2, 1]), jnp.bool_(False)))
    assert float(s.q[4, 2]) == pytest.approx(0.5 * (1.0 + 0.9 * 2.0))


@pytest.mark.parametrize(
    "build,match",
    [
        (lambda: UCBAgent(0), "num_actions"),
        (lambda: UCBAgent(3, c=-1.0), "c must be"),
        (lambda: DirichletRandomAgent(3, alpha=0.0), "alpha"),
        (lambda: BernoulliThompsonAgent(3, prior_a=0.0), "Beta prior"),
        (lambda: QLearningAgent(10, 5, lambda o: o, gamma=1.0), "gamma"),
        (lambda: make_agent("ucb", envs.make("darkroom")[0], temperature=2.0), "bad arguments"),
        (lambda: make_agent("psrl", envs.make("bernoulli-bandit")[0]), "finite task pool"),
        (lambda: make_agent("posterior", envs.make("darkroom")[0], split="val"), "split"),
        (lambda: make_agent("posterior", envs.make("darkroom")[0], mode="step"), "mode"),
    ],
)
def test_agents_reject_bad_settings(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_task_posterior_by_hand():
    """Dark Room 3x3, prior over all 9 goals: a step without reward rules its cell out,
    a reward pins the goal, and the action distribution is the goals' optimal actions."""
    env, _ = envs.make("darkroom", size=3, horizon=5)
    agent = make_agent("posterior", env)
    s = agent.init(None)
    s = agent.update(s, Transition(jnp.array([1, 1]), jnp.int32(2), jnp.float32(0.0), jnp.array([2, 1]), jnp.bool_(False)))
    assert np.asarray(s.consistent).sum() == 8 and not bool(s.consistent[env.obs_to_index(jnp.array([2, 1]))])
    # from the centre, the 8 remaining goals: 2 to the right (x=2, y!=1), 3 left, 1 up, 1 down, 1 stay
    keys = jax.random.split(jax.random.PRNGKey(0), 4000)
    actions = jax.vmap(lambda k: agent.act(k, s, jnp.array([1, 1]))[0])(keys)
    freq = np.bincount(np.asarray(actions), minlength=5) / 4000
    np.testing.assert_allclose(np.asarray(agent.action_probs(s, jnp.array([1, 1]))), np.array([1, 1, 2, 3, 1]) / 8)
    np.testing.assert_allclose(freq, np.array([1, 1, 2, 3, 1]) / 8, atol=0.025)
    s = agent.update(s, Transition(jnp.array([1, 1]), jnp.int32(0), jnp.float32(1.0), jnp.array([1, 2]), jnp.bool_(False)))
    assert np.flatnonzero(np.asarray(s.consistent)).tolist() == [int(env.obs_to_index(jnp.array([1, 2])))]
    assert all(int(agent.act(k, s, jnp.array([0, 0]))[0]) == 2 for k in keys[:20])  # x first, towards (1, 2)


def test_psrl_is_optimal_once_the_goal_is_found_and_beats_q_learning():
    env, _ = envs.make("darkroom", size=5, horizon=15)
    tasks = env.sample_tasks(jax.random.PRNGKey(0), 300, "test")
    h = rollout(env, make_agent("psrl", env), tasks, jax.random.PRNGKey(1), num_episodes=4)
    returns = np.asarray(episode_returns(h, env.horizon))
    optimal = np.asarray(jax.vmap(env.optimal_return)(tasks))
    found = np.cumsum(returns > 0, axis=1) > 0  # goal seen in this episode or before
    later = np.concatenate([np.zeros((300, 1), bool), found[:, :-1]], axis=1)
    np.testing.assert_array_equal(returns[later], np.broadcast_to(optimal[:, None], returns.shape)[later])
    assert later[:, -1].mean() > 0.9
    q = np.asarray(episode_returns(rollout(env, make_agent("q-learning", env), tasks, jax.random.PRNGKey(1), num_episodes=4), env.horizon))
    assert returns[:, -1].mean() > q[:, -1].mean() + 3


def test_psrl_draws_uniformly_among_the_tasks_still_possible():
    from icrl.agents.posterior import uniform_choice

    mask = jnp.array([False, True, False, True, True, False, False, True])
    draws = np.asarray(jax.vmap(lambda k: uniform_choice(k, mask))(jax.random.split(jax.random.PRNGKey(0), 8000)))
    counts = np.bincount(draws, minlength=8)
    assert counts[~np.asarray(mask)].sum() == 0
    np.testing.assert_allclose(counts[np.asarray(mask)], 2000, atol=4 * np.sqrt(8000 * 0.25 * 0.75))  # binomial, 4 sd
    assert int(uniform_choice(jax.random.PRNGKey(1), jnp.zeros(8, bool))) == 0  # none left: a valid index


def test_task_posterior_falls_back_to_random_outside_its_prior():
    """A held-out goal is not in a train-split prior: once every train goal is ruled out the agent acts at random."""
    env, _ = envs.make("darkroom", size=3, horizon=30)
    tasks = env.sample_tasks(jax.random.PRNGKey(0), 50, "test")
    for mode in ("action", "episode"):
        agent = make_agent("posterior", env, split="train", mode=mode)
        h, state = rollout(env, agent, tasks, jax.random.PRNGKey(1), num_steps=30, return_agent_state=True)
        assert not np.asarray(state.consistent).any()
        assert set(np.unique(np.asarray(h.action)[:, -10:])) == set(range(5))


def test_dirichlet_point_mass_mixture_follows_the_reference_collector():
    """With point_mass, p = (1 - w) Dirichlet + w e_arm, w uniform on {0, .1, ..., 1}: a pure point
    mass (w = 1) in about 1/11 of the tasks, never without the option."""
    keys = jax.random.split(jax.random.PRNGKey(0), 4400)
    plain = jnp.exp(jax.vmap(DirichletRandomAgent(5).init)(keys))
    mixed = jnp.exp(jax.vmap(DirichletRandomAgent(5, point_mass=True).init)(keys))
    np.testing.assert_allclose(mixed.sum(-1), 1.0, rtol=1e-5)
    pure = float((mixed.max(-1) > 1 - 1e-6).mean())
    assert abs(pure - 1 / 11) < 3 * np.sqrt((1 / 11) * (10 / 11) / 4400) and float((plain.max(-1) > 1 - 1e-6).mean()) == 0
    # E[max p] grows with the mixture weight: the mixed collector is more skewed
    assert float(mixed.max(-1).mean()) > float(plain.max(-1).mean()) + 0.1


def test_make_agent_checks_keywords_before_building():
    env, _ = envs.make("bernoulli-bandit", num_arms=3)
    with pytest.raises(ValueError, match=r"unknown keyword\(s\) \['temprature'\]; it takes \['c', 'num_actions'\]"):
        make_agent("ucb", env, temprature=2.0)
    with pytest.raises(TypeError):  # an error raised inside the constructor is not disguised as a bad keyword
        make_agent("epsilon-greedy", env, epsilon="a lot")
    assert make_agent("ucb", env, c=2.0).c == 2.0
    with pytest.raises(ValueError, match=r"environment 'darkroom': unknown keyword\(s\) \['sise'\]"):
        envs.make("darkroom", sise=5)


def test_task_posterior_on_key_to_door_tracks_each_hypothesis_phase():
    """3x3 Key-to-Door, prior over all 72 (key, door) pairs: a first reward fixes the key, a
    step without reward while holding it rules a door out, and actions follow the phase."""
    from envs.grid import greedy_step_towards

    env, _ = envs.make("keydoor", size=3, horizon=6)
    agent = make_agent("posterior", env)
    tr = lambda o, a, r, n, d: Transition(jnp.array(o), jnp.int32(a), jnp.float32(r), jnp.array(n), jnp.bool_(d))  # noqa: E731
    s = agent.init(None)
    s = agent.update(s, tr([1, 1], 0, 1.0, [1, 2], False))  # the key is at (1, 2)
    pool = env.task_pool("all")
    keys, doors = np.asarray(pool.key_pos), np.asarray(pool.door_pos)
    np.testing.assert_array_equal(np.asarray(s.consistent), (keys == [1, 2]).all(1))
    s = agent.update(s, tr([1, 2], 2, 0.0, [2, 2], False))  # holding it, no door at (2, 2)
    left = (keys == [1, 2]).all(1) & ~(doors == [2, 2]).all(1)
    np.testing.assert_array_equal(np.asarray(s.consistent), left)
    expected = np.bincount([int(greedy_step_towards(jnp.array([2, 2]), jnp.array(d))) for d in doors[left]], minlength=5)
    np.testing.assert_allclose(np.asarray(agent.action_probs(s, jnp.array([2, 2]))), expected / expected.sum())
    s = agent.update(s, tr([2, 2], 4, 0.0, [2, 2], True))  # the episode ends: every hypothesis is back in phase 0
    np.testing.assert_allclose(np.asarray(agent.action_probs(s, jnp.array([1, 1]))), [1, 0, 0, 0, 0])  # up, to the key


def test_posterior_with_episode_context_updates_at_episode_ends_only():
    env, _ = envs.make("darkroom", size=3, horizon=2)
    agent = make_agent("posterior", env, context="episode")
    tr = lambda o, a, r, n, d: Transition(jnp.array(o), jnp.int32(a), jnp.float32(r), jnp.array(n), jnp.bool_(d))  # noqa: E731
    s = agent.update(agent.init(None), tr([1, 1], 2, 0.0, [2, 1], False))
    assert bool(s.consistent.all())  # nothing taken in mid-episode ...
    s = agent.update(s, tr([2, 1], 0, 1.0, [2, 2], True))
    assert np.flatnonzero(np.asarray(s.consistent)).tolist() == [int(env.obs_to_index(jnp.array([2, 2])))]  # ... all at its end
    assert all(int(agent.act(k, s, jnp.array([1, 1]))[0]) == 2 for k in jax.random.split(jax.random.PRNGKey(0), 10))


def test_psrl_solves_key_to_door_once_key_and_door_are_found():
    env, _ = envs.make("keydoor", size=4, horizon=20)
    tasks = env.sample_tasks(jax.random.PRNGKey(0), 200, "test")
    returns = np.asarray(episode_returns(rollout(env, make_agent("psrl", env), tasks, jax.random.PRNGKey(1), num_episodes=5), env.horizon))
    optimal = np.asarray(jax.vmap(env.optimal_return)(tasks))
    solved = np.cumsum(returns == 2, axis=1) > 0
    later = np.concatenate([np.zeros((200, 1), bool), solved[:, :-1]], axis=1)
    np.testing.assert_array_equal(returns[later], np.broadcast_to(optimal[:, None], returns.shape)[later])
    assert returns[:, -1].mean() > 0.9 * optimal.mean()
