"""Any gymnax environment as a family of tasks: the projection and relabelling a seed makes, disjoint splits, and
trials of fixed-length episodes that follow the wrapped environment step by step."""

import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs.projected import SEED_RANGES
from icrl.agents import make_agent
from icrl.rollout import rollout


@pytest.mark.parametrize("obs_size", [3, 8])
def test_a_seed_makes_one_task_and_its_orthogonal_map_keeps_lengths_where_it_can(obs_size):
    env, _ = envs.make("projected", obs_size=obs_size, action_size=4)
    a, b, c = env.task(7), env.task(7), env.task(8)
    np.testing.assert_array_equal(a.obs_matrix, b.obs_matrix)
    np.testing.assert_array_equal(a.action_map, b.action_map)
    assert not np.allclose(a.obs_matrix, c.obs_matrix)
    m = np.asarray(a.obs_matrix)
    assert m.shape == (obs_size, 4)
    gram = m.T @ m if obs_size >= 4 else m @ m.T  # orthonormal columns (8 x 4), or rows (3 x 4)
    np.testing.assert_allclose(gram, np.eye(min(obs_size, 4)), atol=1e-5)
    assert sorted(np.asarray(a.action_map).tolist()) == [0, 1, 2, 3]  # a permutation of the slots
    gaussian, _ = envs.make("projected", obs_size=obs_size, projection="gaussian")
    assert gaussian.task(7).obs_matrix.shape == (obs_size, 4)


def test_train_and_test_tasks_come_from_disjoint_seeds():
    env, _ = envs.make("projected")
    train = np.asarray(env.sample_tasks(jax.random.PRNGKey(0), 2000, "train").seed)
    test = np.asarray(env.sample_tasks(jax.random.PRNGKey(0), 2000, "test").seed)
    assert train.max() < SEED_RANGES["train"][1] <= test.min()
    assert not set(train.tolist()) & set(test.tolist())


def test_trials_follow_the_wrapped_environment_and_idle_after_it_ends():
    """Step by step beside CartPole itself: the observation is the task's map of CartPole's, an action its slot's
    CartPole action; after the pole falls the episode idles (reward 0, observation 0) until the horizon, and every
    episode of the trial starts from the task's one initial state."""
    env, _ = envs.make("projected", obs_size=5, action_size=3, horizon=40)
    base, base_params = gymnax.make("CartPole-v1")
    params = env.task(11)
    obs, state = env.reset_env(jax.random.PRNGKey(0), params)
    inner_obs, inner = base.reset_env(params.start_key, base_params)
    np.testing.assert_allclose(obs, params.obs_matrix @ inner_obs, atol=1e-6)
    ended, rewards = False, []
    for t in range(40):
        action = t % 3
        obs, state, reward, _, _ = env.step_env(jax.random.PRNGKey(t), state, action, params)
        if not ended:
            inner_obs, inner, inner_reward, inner_done, _ = base.step_env(
                jax.random.PRNGKey(t), inner, params.action_map[action] % 2, base_params)
            np.testing.assert_allclose(reward, inner_reward)
            ended = bool(inner_done)
            expected = np.zeros(5) if ended else params.obs_matrix @ inner_obs
        else:
            assert float(reward) == 0.0
            expected = np.zeros(5)
        np.testing.assert_allclose(obs, expected, atol=1e-5)
        rewards.append(float(reward))
    assert ended and 0 < sum(rewards) < 40  # a fixed policy drops the pole within the horizon
    tasks = env.sample_tasks(jax.random.PRNGKey(1), 3)
    history = rollout(env, make_agent("random", env), tasks, jax.random.PRNGKey(2), num_episodes=4)
    assert history.action.shape == (3, 160) and int(history.done.sum()) == 12
    starts = np.asarray(history.obs).reshape(3, 4, 40, 5)[:, :, 0]
    np.testing.assert_allclose(starts, np.broadcast_to(starts[:, :1], starts.shape), atol=1e-6)
    assert not np.allclose(starts[0, 0], starts[1, 0])  # another task, another start and map
    # an environment that pays on every step (MountainCar: -1) still pays nothing once its episode has ended
    car, _ = envs.make("projected", base="MountainCar-v0", horizon=10)
    params = car.task(3)
    _, state = car.reset_env(jax.random.PRNGKey(0), params)
    obs, after, reward, _, _ = car.step_env(jax.random.PRNGKey(1), state.replace(ended=jnp.array(True)), 0, params)
    assert float(reward) == 0.0 and not np.any(np.asarray(obs))
    np.testing.assert_array_equal(after.inner[0].position, state.inner[0].position)  # the ended environment stays put
    assert float(car.step_env(jax.random.PRNGKey(1), state, 0, params)[2]) == -1.0


def test_bad_arguments_are_refused_in_one_line():
    with pytest.raises(ValueError, match="unknown gymnax environment 'CartPole-v9'"):
        envs.make("projected", base="CartPole-v9")
    with pytest.raises(ValueError, match="continuous actions"):
        envs.make("projected", base="Pendulum-v1")
    with pytest.raises(ValueError, match="action_size=1 is fewer than 'CartPole-v1''s 2 actions"):
        envs.make("projected", action_size=1)
    with pytest.raises(ValueError, match=r"keep_obs=\(0, 9\) must index"):
        envs.make("projected", keep_obs=(0, 9))
    with pytest.raises(ValueError, match="projection must be one of"):
        envs.make("projected", projection="sparse")


def test_its_own_settings_reach_it_from_a_config_and_bad_ones_are_refused_in_one_line():
    from train import config_for

    cfg = config_for("bandit-rl2-s5", env="projected", env_args=("obs_size=4", "keep_obs=0,2", "same_start=false"))
    assert cfg.env_kwargs() == {"horizon": 100, "obs_size": 4, "keep_obs": (0, 2), "same_start": False}
    env, _ = envs.make(cfg.env, **cfg.env_kwargs())
    assert env.obs_size == 4 and env.keep_obs == (0, 2) and not env.same_start
    refusals = {("obs_size",): "takes NAME=VALUE items", ("horizon=9",): r"horizon is a field of its own \(--horizon\)",
                ("colour=red",): "environment 'projected' takes no 'colour'; it takes", ("obs_size=four",): "expected an integer",
                ("same_start=maybe",): "expected true or false", ("obs_size=3", "obs_size=4"): "sets 'obs_size' twice"}
    for items, message in refusals.items():
        with pytest.raises(ValueError, match=message):
            config_for("bandit-rl2-s5", env="projected", env_args=items)


def test_several_environments_make_one_family_and_a_held_out_one_is_drawn_by_the_test_split_alone():
    env, _ = envs.make("projected", base="CartPole-v1,Acrobot-v1,MountainCar-v0", held_out="Acrobot-v1", obs_size=6,
                       horizon=30)
    assert env.action_size == 3 and env.dims == (4, 6, 2)
    train = np.asarray(env.sample_tasks(jax.random.PRNGKey(0), 400, "train").env_index)
    test = np.asarray(env.sample_tasks(jax.random.PRNGKey(0), 50, "test").env_index)
    assert set(train.tolist()) == {0, 2} and set(test.tolist()) == {1}
    # a task on MountainCar sees MountainCar's observation through its own map (zero past its 2 features), and its
    # reward, whatever the other bases do
    base, base_params = gymnax.make("MountainCar-v0")
    params = env.task(5, 2)
    np.testing.assert_array_equal(np.asarray(params.obs_matrix)[:, 2:], 0.0)
    obs, state = env.reset_env(jax.random.PRNGKey(0), params)
    inner_obs, inner = base.reset_env(params.start_key, base_params)
    np.testing.assert_allclose(obs, np.asarray(params.obs_matrix)[:, :2] @ np.asarray(inner_obs), atol=1e-6)
    for t in range(5):
        obs, state, reward, _, _ = env.step_env(jax.random.PRNGKey(t), state, t % 3, params)
        inner_obs, inner, inner_reward, _, _ = base.step_env(jax.random.PRNGKey(t), inner, params.action_map[t % 3] % 3,
                                                             base_params)
        np.testing.assert_allclose(obs, np.asarray(params.obs_matrix)[:, :2] @ np.asarray(inner_obs), atol=1e-5)
        assert float(reward) == float(inner_reward) == -1.0
    history = rollout(env, make_agent("random", env), env.sample_tasks(jax.random.PRNGKey(1), 4, "test"),
                      jax.random.PRNGKey(2), num_episodes=2)
    assert history.obs.shape == (4, 60, 6) and int(history.done.sum()) == 8
    with pytest.raises(ValueError, match="must name some of the bases"):
        envs.make("projected", base="CartPole-v1,Acrobot-v1", held_out="CartPole-v1,Acrobot-v1")
    with pytest.raises(ValueError, match="keep_obs selects features of one environment"):
        envs.make("projected", base="CartPole-v1,Acrobot-v1", keep_obs=(0,))


def test_a_family_whose_optimum_is_unknown_reports_returns_alone():
    """Acrobot's best return is not known: evaluation gives each episode's return, no fraction of an optimum, and
    says so; CartPole's is known (one per step), so its family keeps the fractions."""
    from icrl.evaluate import evaluate_online
    from icrl.results import format_table

    key = jax.random.PRNGKey(0)
    for base, known in (("CartPole-v1,Acrobot-v1", False), ("CartPole-v1", True)):
        env, _ = envs.make("projected", base=base, obs_size=6, horizon=20)
        assert env.knows_optimal_return is known
        results = evaluate_online(env, {"random": "random"}, env.sample_tasks(key, 8, "test"), key, 2 * env.horizon)
        random = results["methods"]["random"]
        assert len(random["episode_return"]) == 2
        assert ("episode_fraction" in random) is known and ("optimal_return" in results) is known
        assert ("optimal unknown" in format_table(results)) is not known
