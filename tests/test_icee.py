"""ICEE: the ε-greedy oracle's behaviour probabilities, the unbiasing weights, the conditions
(return to go and the cross-episode flag), the weighted loss, and a tiny run that learns in context."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs.grid import all_cells
from icrl.agents import make_agent
from icrl.agents.epsilon import EpsilonOracleAgent
from icrl.models import TokenSpec, Transformer
from icrl.objectives import Weighted, cross_entropy
from icrl.rollout import episode_returns, rollout
from icrl.training import TrainConfig, train
from train.methods.icee.agent import ICEEAgent
from train.methods.icee.data import icee_conditions, make_icee_dataset
from train.methods.icee.objective import ICEEObjective, icee_token_conditions


@pytest.fixture(scope="module")
def room():
    return envs.make("darkroom", size=5, horizon=10)[0]


def test_behaviour_probabilities_and_weights_by_hand(room):
    """With ε = 0.4 and 5 actions: the oracle's action has π = 0.6 + 0.4/5 = 0.68, any other 0.08;
    the weights uniform/π are 0.2/0.68 and 2.5, the latter clipped to 2 at weight_clip=2."""
    agent = EpsilonOracleAgent(room)
    params = room.sample_tasks(jax.random.PRNGKey(0), 1)
    params = jax.tree.map(lambda x: x[0], params)
    state = agent.init(jax.random.PRNGKey(1), params).replace(epsilon=jnp.float32(0.4))
    obs, _ = room.reset(jax.random.PRNGKey(2), params)
    best = room.oracle_act(room.oracle_init(params), obs, params)
    seen = set()
    for i in range(200):
        action, new = agent.act(jax.random.PRNGKey(100 + i), state, obs)
        expected = 0.68 if int(action) == int(best) else 0.08
        np.testing.assert_allclose(float(agent.record(new)[0]), expected, rtol=1e-6)
        seen.add(int(action) == int(best))
    assert seen == {True, False}
    objective = ICEEObjective(TokenSpec.for_env(room), room.horizon, 1, weight_clip=2.0)
    np.testing.assert_allclose(objective.weights(jnp.array([0.68, 0.08])), [0.2 / 0.68, 2.0], rtol=1e-6)
    np.testing.assert_allclose(ICEEObjective(TokenSpec.for_env(room), room.horizon, 1).weights(jnp.array([0.08])), [2.5], rtol=1e-6)


def test_recorded_probabilities_match_the_oracle_and_epsilon_changes_per_episode(room):
    """In a rollout the data record, at every step, π(a) = (1 - ε)[a = a*] + ε/5 with a* the optimal
    action and ε constant within an episode and drawn again for the next."""
    tasks = room.sample_tasks(jax.random.PRNGKey(0), 8)
    data = make_icee_dataset(room, jax.random.PRNGKey(3), 8, 6)
    assert data.history.action.shape == (8, 60)
    eps = np.asarray(data.extras["epsilon"])  # (8, 6)
    assert len(np.unique(eps.round(6))) > 40  # a fresh epsilon per episode
    tasks = room.sample_tasks(jax.random.split(jax.random.PRNGKey(3))[0], 8, "train")
    best = jax.vmap(jax.vmap(room.optimal_action_for_obs, in_axes=(0, None)))(jnp.asarray(data.history.obs), tasks)
    per_step_eps = np.repeat(eps, room.horizon, axis=1)
    expected = (1 - per_step_eps) * (np.asarray(data.history.action) == np.asarray(best)) + per_step_eps / 5
    np.testing.assert_allclose(data.extras["behaviour"], expected, rtol=1e-5)


def test_best_steps_are_the_fewest_that_collect_the_best_return():
    """Key-to-Door, 5x5, 20-step episodes: from a cell, the best return (2) takes the steps to the key
    and on to the door (a target under the agent takes one step: staying collects it); with fewer
    steps left than that, the best return is the key alone, in the steps to it."""
    env = envs.make("keydoor", size=5, horizon=20)[0]
    tasks = env.sample_tasks(jax.random.PRNGKey(0), 16)
    agent = EpsilonOracleAgent(env)
    for i in range(16):
        params = jax.tree.map(lambda x: x[i], tasks)
        obs, _ = env.reset(jax.random.PRNGKey(i), params)
        key, door = np.asarray(params.key_pos), np.asarray(params.door_pos)
        to_key, key_to_door = max(np.abs(np.asarray(obs) - key).sum(), 1), max(np.abs(key - door).sum(), 1)
        state = agent.init(jax.random.PRNGKey(1), params)
        _, new = agent.act(jax.random.PRNGKey(2), state, obs)
        assert (float(new.best_to_go), int(new.best_steps)) == (2.0, to_key + key_to_door)
        late = state.replace(step=jnp.int32(20 - (to_key + key_to_door - 1)))  # one step short of the door
        _, new = agent.act(jax.random.PRNGKey(2), late, obs)
        assert (float(new.best_to_go), int(new.best_steps)) == (1.0, to_key)


def test_time_shortfall_on_a_hand_made_episode():
    """Horizon 6, rewards [0, 1, 0, 1, 0, 0] with best returns to go [2, 2, 1, 1, 0, 0]: no shortfall
    in return anywhere. The fewest steps to collect them, [3, 2, 2, 1, 0, 0], against the steps the
    episode took to its last reward, [4, 3, 2, 1, 0, 0]: the first two steps fall short in time."""
    rewards = np.array([0, 1, 0, 1, 0, 0], np.float32)
    best = np.array([2, 2, 1, 1, 0, 0], np.float32)
    np.testing.assert_array_equal(np.asarray(icee_conditions(rewards, 6, best))[:, 0], 1)
    timed = np.asarray(icee_conditions(rewards, 6, best, best_steps=np.array([3, 2, 2, 1, 0, 0])))
    np.testing.assert_array_equal(timed[:, 0], [0, 0, 1, 1, 1, 1])
    np.testing.assert_array_equal(timed[:, 1:], np.asarray(icee_conditions(rewards, 6, best))[:, 1:])


def test_time_shortfall_changes_nothing_in_dark_room(room):
    """Dark Room pays every step on the goal, so the best return already takes every step left."""
    plain = make_icee_dataset(room, jax.random.PRNGKey(3), 16, 6)
    timed = make_icee_dataset(room, jax.random.PRNGKey(3), 16, 6, time_shortfall=True)
    np.testing.assert_array_equal(plain.extras["conditions"], timed.extras["conditions"])
    assert timed.meta != plain.meta  # a dataset made so is not taken for the other


def test_sorted_episodes_have_decreasing_epsilon(room):
    data = make_icee_dataset(room, jax.random.PRNGKey(3), 8, 6, sort_by_epsilon=True)
    assert (np.diff(data.extras["epsilon"], axis=1) <= 0).all()
    unsorted = make_icee_dataset(room, jax.random.PRNGKey(3), 8, 6)
    np.testing.assert_allclose(np.sort(unsorted.extras["epsilon"], 1)[:, ::-1], data.extras["epsilon"])


def test_sorted_episodes_keep_their_probabilities_and_earn_their_flags_anew(room):
    """Sorting moves each episode whole (actions, rewards, the data policy's probabilities), and the flags
    are those of the new order: an episode that beat the ones drawn before it may not beat those now first."""
    n, e, h = 8, 6, room.horizon
    data = make_icee_dataset(room, jax.random.PRNGKey(3), n, e, sort_by_epsilon=True)
    drawn = make_icee_dataset(room, jax.random.PRNGKey(3), n, e)
    order = np.argsort(-np.asarray(drawn.extras["epsilon"]), axis=1, kind="stable")
    per = lambda x: np.asarray(x).reshape(n, e, h)  # noqa: E731
    for name, a, b in [("action", data.history.action, drawn.history.action), ("reward", data.history.reward, drawn.history.reward),
                       ("behaviour", data.extras["behaviour"], drawn.extras["behaviour"])]:
        np.testing.assert_array_equal(per(a), np.take_along_axis(per(b), order[:, :, None], 1), err_msg=name)
    def flags(rewards):  # the flag of every episode, by hand: above 0 and at least every earlier return
        returns = per(rewards).sum(-1)
        best_before = np.concatenate([np.zeros((n, 1)), np.maximum.accumulate(returns, 1)[:, :-1]], 1)
        return ((returns > 0) & (returns >= best_before)).astype(np.float32)

    sorted_flags = flags(data.history.reward)
    conditions = np.asarray(data.extras["conditions"]).reshape(n, e, h, 3)
    np.testing.assert_array_equal(conditions[..., 2], np.repeat(sorted_flags[..., None], h, -1))
    assert (sorted_flags != np.take_along_axis(flags(drawn.history.reward), order, 1)).any()  # relabelled, not moved


def test_conditions_on_a_hand_made_history():
    """Horizon 4. Returns 0, 2, 1, 2, 3: flags 0 (no better than an empty episode), 1 (beats 0),
    0 (1 < 2), 1 (a tie with the best counts), 1 (beats 2). Episode 2's rewards [0, 0, 1, 1] have
    returns to go 2, 2, 2, 1; with best returns to go 3, 3, 2, 1 its shortfalls are 1, 1, 0, 0
    (over 4). As tokens, a finished episode keeps only its flag."""
    rewards = np.array([[0, 0, 0, 0], [0, 0, 1, 1], [0, 0, 0, 1], [1, 1, 0, 0], [0, 1, 1, 1]], np.float32).reshape(-1)
    best = np.tile([3, 3, 2, 1], 5).astype(np.float32)
    c = np.asarray(icee_conditions(rewards, 4, best)).reshape(5, 4, 3)
    np.testing.assert_array_equal(c[:, :, 2], np.repeat([[0], [1], [0], [1], [1]], 4, axis=1))
    np.testing.assert_allclose(c[1, :, 1], np.array([1, 1, 0, 0]) / 4)
    np.testing.assert_array_equal(c[1, :, 0], [0, 0, 1, 1])
    np.testing.assert_allclose(c[0, :, 1], np.array([3, 3, 2, 1]) / 4)
    tokens = np.asarray(icee_token_conditions(jnp.asarray(c[1]), jnp.array([0, 0, 1, 1])))
    np.testing.assert_allclose(tokens, [[0, 0, 0, 1], [0, 0, 0, 1], [1, 1, 0, 1], [1, 1, 0, 1]])


def test_acting_share_weighs_the_acting_episode_by_hand(room):
    """ICEE's windows with acting_share 1 weigh only the last episode's positions (the ones carrying
    the in-episode conditions), keeping the unbiasing weights' ratios among them (all 1 without
    weights); with 0.25 those hold a quarter of the weight and every finished position the same
    weight (plain imitation)."""
    spec = TokenSpec(room.obs_feature_dim, room.num_actions, room.obs_features, num_conditions=4)
    data = make_icee_dataset(room, jax.random.PRNGKey(0), 64, 4).samples
    batch = lambda **kw: ICEEObjective(spec, room.horizon, 3, **kw).sample_batch(data, jax.random.PRNGKey(1), 32)  # noqa: E731
    _, _, every_position = batch(unbiased=True)  # the unbiasing weights on every position
    for unbiased in (True, False):
        tokens, _, labels = batch(unbiased=unbiased, acting_share=1.0)
        acting = np.asarray(tokens[..., -4]) == 1  # the current-episode feature
        assert acting.any() and (~acting).any()
        w = np.asarray(labels.weights)
        assert (w[~acting] == 0).all() and (w[acting] > 0).all()
        expected = np.asarray(every_position.weights)[acting] if unbiased else np.ones(acting.sum())
        np.testing.assert_allclose(w[acting] / w[acting].sum(), expected / expected.sum(), rtol=1e-5)  # ratios kept
        tokens, _, labels = batch(unbiased=unbiased, acting_share=0.25)
        w = np.asarray(labels.weights)
        np.testing.assert_allclose(w[acting].sum() / w.sum(), 0.25, rtol=1e-5)
        np.testing.assert_allclose(w[~acting], w[~acting][0], rtol=1e-6)
    with pytest.raises(ValueError, match="acting_share"):
        ICEEObjective(spec, room.horizon, 3, acting_share=1.5)


def test_any_acting_episode_is_drawn_per_window_and_nothing_after_it_counts(room):
    """acting_episode='any': each window's acting episode (the positions carrying the current-episode
    feature) is one contiguous episode among those that begin in the window, the last or an earlier
    one, and the positions after it weigh 0 (all before it 1, without weights); with 'last' it is
    always the window's end."""
    spec = TokenSpec(room.obs_feature_dim, room.num_actions, room.obs_features, num_conditions=4)
    data = make_icee_dataset(room, jax.random.PRNGKey(0), 64, 4).samples
    window = 3 * room.horizon
    tokens, _, labels = ICEEObjective(spec, room.horizon, 3, unbiased=False, acting_episode="any").sample_batch(data, jax.random.PRNGKey(1), 64)
    acting, w = np.asarray(tokens[..., -4]) == 1, np.asarray(labels.weights)
    ends = []
    for row_acting, row_w in zip(acting, w):
        idx = np.nonzero(row_acting)[0]
        assert idx.size > 0 and (np.diff(idx) == 1).all()
        assert (row_w[idx[-1] + 1:] == 0).all() and (row_w[: idx[-1] + 1] == 1).all()
        ends.append(idx[-1])
    ends = np.array(ends)
    assert 10 < (ends == window - 1).sum() < 40 and (ends < window - room.horizon).any()  # about a third end the window
    tokens, _, _ = ICEEObjective(spec, room.horizon, 3, acting_episode="last").sample_batch(data, jax.random.PRNGKey(1), 64)
    assert (np.asarray(tokens[:, -1, -4]) == 1).all()
    with pytest.raises(ValueError, match="acting_episode must be one of"):
        ICEEObjective(spec, room.horizon, 3, acting_episode="first")


@pytest.mark.parametrize("name, kw", [("darkroom", dict(size=5, horizon=10)), ("keydoor", dict(size=5, horizon=20))])
def test_greedy_oracle_episodes_fall_short_of_nothing(name, kw):
    """With epsilon 0 the oracle's episodes are optimal: every step's shortfall is 0 and every
    flag is on (a repeated optimal episode ties)."""
    env = envs.make(name, **kw)[0]
    data = make_icee_dataset(env, jax.random.PRNGKey(5), 16, 3, max_epsilon=0.0)
    c = data.extras["conditions"]
    np.testing.assert_allclose(c[..., 1], 0, atol=1e-6)
    np.testing.assert_array_equal(c[..., 0], 1)
    np.testing.assert_array_equal(c[..., 2], 1)
    returns = np.asarray(data.history.reward).reshape(16, 3, -1).sum(-1)
    np.testing.assert_allclose(returns, np.repeat(data.extras["optimal_return"][:, None], 3, 1))


@pytest.mark.parametrize("name, kw", [("darkroom", dict(size=9, horizon=20)), ("keydoor", dict(size=9, horizon=50))])
def test_best_return_to_go_equals_backward_induction(name, kw):
    """The closed form of each state's best return to go equals value iteration over the room's
    exact planning tables, for every cell, phase and number of steps left."""
    env = envs.make(name, **kw)[0]
    cells = jnp.asarray(all_cells(env.size))
    for i in range(4):
        params = jax.tree.map(lambda x: x[i], env.sample_tasks(jax.random.PRNGKey(i), 4))
        next_state, reward, _ = env._planning_tables(params)
        value = jnp.zeros(next_state.shape[0])
        phases = 3 if name == "keydoor" else 1
        for k in range(env.horizon + 1):
            for phase in range(phases):
                got = jax.vmap(lambda o: env.best_return_to_go(o, phase, k, params))(cells)
                np.testing.assert_array_equal(got, value[phase * len(cells):(phase + 1) * len(cells)], err_msg=f"{k} {phase}")
            value = jnp.max(reward + value[next_state], axis=-1)


def test_relabelled_context_equals_the_whole_sequence_with_hindsight_conditions(room):
    """After two episodes, the deployed agent's next output equals the parallel model's on the
    whole history whose finished episodes carry the flag they earned (and no in-episode
    conditions), then the current token's request: relabelling at episode ends is exact."""
    spec = TokenSpec(room.obs_feature_dim, room.num_actions, room.obs_features, num_conditions=4)
    model = Transformer(spec.token_dim, spec.num_actions, max_len=40, num_layers=2, num_heads=2, width=16)
    params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 2, spec.token_dim)))
    agent = ICEEAgent(params, model, spec, horizon=room.horizon)
    tasks = room.sample_tasks(jax.random.PRNGKey(1), 4, "test")
    tasks = tasks.replace(goal=tasks.goal.at[:2].set(room.start_pos() + jnp.array([0, 1])))  # a goal found at random
    history, state = rollout(room, agent, tasks, jax.random.PRNGKey(2), num_episodes=2, return_agent_state=True)
    obs, _ = room.reset(jax.random.PRNGKey(3), jax.tree.map(lambda x: x[0], tasks))
    flags = []
    for i in range(4):
        s = jax.tree.map(lambda x: x[i], state)
        h = jax.tree.map(lambda x: x[i], history)
        logits = agent.action_logits(s, obs)
        finished = icee_token_conditions(icee_conditions(h.reward, room.horizon, jnp.zeros_like(h.reward)), jnp.zeros_like(h.reward))
        flags += list(np.asarray(finished[:: room.horizon, 3]))
        conditions = jnp.concatenate([finished, jnp.array([[1.0, 1.0, 0.0, 1.0]])])
        tokens = spec.tokens(h._replace(regret=None, info=None), jnp.concatenate([h.obs, obs[None]]), conditions)
        np.testing.assert_allclose(logits, model.apply(params, tokens[None])[0, -1], rtol=1e-4, atol=1e-4)
    assert 0 in flags and 1 in flags  # relabelling changed some flags, kept others
    with pytest.raises(ValueError, match="state_window"):  # the relabelling rewinds one context
        ICEEAgent(params, model, spec, horizon=room.horizon, state_window=20)
    from train.configs import config_for, replace

    with pytest.raises(ValueError, match="deploy_window"):
        replace(config_for("darkroom9-icee"), backbone="s5", deploy_window=10)


def test_weighted_cross_entropy_by_hand():
    logits = jnp.log(jnp.array([[[0.5, 0.5], [0.9, 0.1]]]))
    labels = jnp.array([[0, 1]])
    ce = -np.log([0.5, 0.1])
    np.testing.assert_allclose(cross_entropy(logits, Weighted(labels, jnp.array([[1.0, 3.0]]))), (ce[0] + 3 * ce[1]) / 4, rtol=1e-6)
    np.testing.assert_allclose(cross_entropy(logits, Weighted(labels, jnp.ones((1, 2)))), cross_entropy(logits, labels), rtol=1e-6)


def test_tiny_icee_beats_random_on_held_out_goals_and_two_steps_do_not(room):
    """5x5 room, 10-step episodes, windows of 3 episodes from sequences of 4, without the unbiasing
    weights (with them the loss stays at the uniform prior for the first few hundred steps: only
    10% of the weights' mass is on actions taken with probability above 0.6): trained, ICEE's third episode on held-out
    goals beats random's (paired, 95%); after 2 steps it does not."""
    spec = TokenSpec(room.obs_feature_dim, room.num_actions, room.obs_features, num_conditions=4)
    data = make_icee_dataset(room, jax.random.PRNGKey(0), 3000, 4)
    objective = ICEEObjective(spec, room.horizon, 3, unbiased=False)
    model = Transformer(spec.token_dim, spec.num_actions, max_len=30, num_layers=2, num_heads=2, width=32)
    tasks = room.sample_tasks(jax.random.PRNGKey(123), 200, "test")
    rand = np.asarray(episode_returns(rollout(room, make_agent("random", room), tasks, jax.random.PRNGKey(7), num_episodes=3),
                                      room.horizon))
    for steps, learns in ((2, False), (150, True)):  # trained: the paired bound 0.46, 0.54 at 300 steps
        cfg = TrainConfig(train_steps=steps, batch_size=64, learning_rate=3e-3, warmup_steps=min(10, steps), log_every=100,
                          num_devices=1)
        params, _ = train(model, objective, data.samples, cfg, progress=False)
        agent = ICEEAgent(params, model, spec, horizon=room.horizon)
        icee = np.asarray(episode_returns(rollout(room, agent, tasks, jax.random.PRNGKey(7), num_episodes=3), room.horizon))
        diff = icee[:, -1] - rand[:, -1]
        low = diff.mean() - 1.96 * diff.std(ddof=1) / np.sqrt(len(diff))
        assert (low > 0.2) == learns, (steps, low, icee.mean(0), rand.mean(0))
