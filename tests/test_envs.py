import itertools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs.keydoor import DarkKeyToDoor
from envs.darkroom import DarkRoom

SMALL = {
    "bernoulli-bandit": dict(num_arms=4, horizon=20),
    "gaussian-bandit": dict(num_arms=4, horizon=20),
    "linear-bandit": dict(dim=3, num_arms=6, horizon=20),
    "darkroom": dict(size=5, horizon=12),
    "keydoor": dict(size=5, horizon=12),
    "bayesopt": dict(size=4, horizon=3),
    **{name: dict(level="easy") for name in envs.REGISTRY if name.startswith("popgym-")},
    "projected": dict(obs_size=6, horizon=12),
}


@pytest.mark.parametrize("name", sorted(envs.REGISTRY))
def test_reset_and_step_shapes_under_jit_and_vmap(name):
    env, params = envs.make(name, **SMALL[name])
    tasks = env.sample_tasks(jax.random.PRNGKey(0), 7, "train")
    obs_space = env.observation_space(params)
    keys = jax.random.split(jax.random.PRNGKey(1), 7)
    obs, state = jax.jit(jax.vmap(env.reset))(keys, tasks)
    chex.assert_shape(obs, (7, *obs_space.shape))
    assert obs.dtype == obs_space.dtype
    actions = jax.vmap(env.action_space(params).sample)(keys)
    assert actions.dtype == jnp.int32 and env.action_space(params).n == env.num_actions
    step = jax.jit(jax.vmap(env.step))
    obs2, state2, reward, terminated, truncated, info = step(keys, state, actions, tasks)
    chex.assert_shape(obs2, (7, *obs_space.shape))
    chex.assert_shape([reward, terminated, truncated], (7,))
    assert reward.dtype == jnp.float32
    assert not bool(terminated.any()) and not bool(truncated.any())
    assert bool(jax.vmap(obs_space.contains)(obs2).all())


@pytest.mark.parametrize("name", sorted(envs.REGISTRY))
def test_episode_lasts_horizon_then_restarts_same_task(name):
    env, _ = envs.make(name, **SMALL[name])
    params = jax.tree.map(lambda x: x[0], env.sample_tasks(jax.random.PRNGKey(3), 1))
    obs0, state = env.reset(jax.random.PRNGKey(0), params)
    for t in range(env.horizon):
        obs, state, reward, terminated, truncated, _ = env.step(jax.random.PRNGKey(t), state, 0, params)
        assert bool(truncated) == (t == env.horizon - 1)
    if not getattr(env, "random_start", False):  # POPGym's episodes each deal a fresh shuffle
        np.testing.assert_array_equal(obs, obs0)  # auto-reset: same task, fresh episode
    assert int(state.time) == 0


def test_make_rejects_unknown_names_and_bad_values():
    with pytest.raises(ValueError, match="unknown environment 'darkrom'.*darkroom"):
        envs.make("darkrom")
    with pytest.raises(ValueError, match="num_arms"):
        envs.make("bernoulli-bandit", num_arms=1)
    with pytest.raises(ValueError, match="horizon.*0"):
        envs.make("darkroom", horizon=0)
    with pytest.raises(ValueError, match="size"):
        envs.make("keydoor", size=1)
    with pytest.raises(ValueError, match="size"):
        envs.make("darkroom", size=2.5)
    with pytest.raises(ValueError, match="noise_std"):
        envs.make("gaussian-bandit", noise_std=0.0)
    with pytest.raises(ValueError, match="bad arguments.*arms"):
        envs.make("darkroom", arms=3)
    env, _ = envs.make("darkroom")
    with pytest.raises(ValueError, match="split.*'val'"):
        env.sample_tasks(jax.random.PRNGKey(0), 3, "val")
    with pytest.raises(ValueError, match="num_tasks"):
        env.sample_tasks(jax.random.PRNGKey(0), 0)


@pytest.mark.parametrize("cls", [DarkRoom, DarkKeyToDoor])
def test_grid_train_and_test_tasks_are_disjoint_and_fixed(cls):
    env = cls()
    train, test = env._split_tasks["train"], env._split_tasks["test"]
    as_set = lambda a: {tuple(r) for r in a.tolist()}
    assert not as_set(train) & as_set(test)
    assert as_set(train) | as_set(test) == as_set(env._split_tasks["all"])
    assert len(train) == int(np.ceil(0.8 * len(env._split_tasks["all"])))
    np.testing.assert_array_equal(cls()._split_tasks["test"], test)  # same split_seed, same split
    for seed in (1, 2, 3):  # a fold: the benchmark's training tasks split again, no held-out task in either part
        fold = cls(split_seed=seed)._split_tasks
        assert as_set(fold["train"]) | as_set(fold["test"]) == as_set(train) == as_set(fold["all"])
        assert not as_set(fold["train"]) & as_set(fold["test"]) and not as_set(fold["all"]) & as_set(test)
        assert len(fold["train"]) == int(np.ceil(0.8 * len(train)))
    assert as_set(cls(split_seed=1)._split_tasks["test"]) != as_set(cls(split_seed=2)._split_tasks["test"])
    if cls is DarkRoom:
        assert len(train) == 80 and len(test) == 20  # DPT's 80/20 goals
        drawn = env.sample_tasks(jax.random.PRNGKey(0), 500, "test").goal
        assert as_set(np.asarray(drawn)) <= as_set(test)


@pytest.mark.parametrize("name,field", [("bernoulli-bandit", "means"), ("linear-bandit", "theta")])
def test_bandit_splits_are_independent_streams(name, field):
    env, _ = envs.make(name)
    key = jax.random.PRNGKey(0)
    draw = lambda split: np.asarray(getattr(env.sample_tasks(key, 1000, split), field))
    train, test = draw("train"), draw("test")
    assert not {tuple(r) for r in train.tolist()} & {tuple(r) for r in test.tolist()}
    np.testing.assert_array_equal(train, draw("train"))


def _brute_force_return(env, params, num_steps):
    """Best return over all 5**num_steps action sequences, stepping the real environment."""
    seqs = jnp.array(list(itertools.product(range(5), repeat=num_steps)), jnp.int32)

    def episode(actions):
        _, state = env.reset_env(jax.random.PRNGKey(0), params)

        def step(state, a):
            _, state, r, _, _ = env.step_env(jax.random.PRNGKey(0), state, a, params)
            return state, r

        return jax.lax.scan(step, state, actions)[1].sum()

    return jax.jit(jax.vmap(episode))(seqs).max()


def test_darkroom_optimal_return_matches_brute_force():
    env = DarkRoom(size=3, horizon=4, start=(0, 0))
    tasks = env.task_pool("all")
    dp = jax.vmap(env.optimal_return)(tasks)
    bf = jnp.stack([_brute_force_return(env, jax.tree.map(lambda x: x[i], tasks), 4) for i in range(9)])
    np.testing.assert_allclose(dp, bf)
    assert float(bf.min()) == 1.0  # the far corner (2, 2) is 4 moves away: reward on the last step only


def test_keydoor_optimal_return_matches_brute_force():
    env = DarkKeyToDoor(size=3, horizon=5, start=(1, 1))
    tasks = env.task_pool("all")
    idx = np.arange(0, tasks.key_pos.shape[0], 7)
    for i in idx:
        params = jax.tree.map(lambda x: x[i], tasks)
        assert float(env.optimal_return(params)) == float(_brute_force_return(env, params, 5))


def test_optimal_returns_by_hand():
    env = DarkRoom(size=10, horizon=100)  # start (5, 5)
    goal = lambda g: env._params(jnp.array(g, jnp.int32))
    assert float(env.optimal_return(goal([9, 9]))) == 100 - 8 + 1
    assert float(env.optimal_return(goal([5, 5]))) == 100  # stay on the goal
    env = DarkKeyToDoor(size=9, horizon=10)  # start (4, 4)
    task = lambda k, d: env._params(jnp.array(k + d, jnp.int32))
    assert float(env.optimal_return(task([4, 6], [4, 8]))) == 2.0  # 2 + 2 moves
    assert float(env.optimal_return(task([0, 0], [8, 8]))) == 1.0  # key in 8 moves, door 16 further
    assert float(env.optimal_return(task([0, 8], [8, 8]))) == 1.0
    bandit, _ = envs.make("bernoulli-bandit", num_arms=3, horizon=10)
    p = bandit._params(jnp.array([0.2, 0.7, 0.4]))
    np.testing.assert_allclose(bandit.optimal_return(p), 7.0, rtol=1e-6)
    assert int(bandit.optimal_action(None, p)) == 1


def test_bernoulli_rewards_match_means():
    env, _ = envs.make("bernoulli-bandit", num_arms=3, horizon=10)
    p = env._params(jnp.array([0.1, 0.5, 0.9]))
    keys = jax.random.split(jax.random.PRNGKey(0), 20000)
    _, s = env.reset(keys[0], p)
    for arm, mean in enumerate([0.1, 0.5, 0.9]):
        r = jax.vmap(lambda k: env.step_env(k, s, arm, p)[2])(keys)
        assert set(np.unique(r).tolist()) <= {0.0, 1.0}
        assert abs(float(r.mean()) - mean) < 0.015
