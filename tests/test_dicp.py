import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import envs
from envs.grid import cell_obs, greedy_step_towards, move
from icrl.agents import make_agent
from icrl.models import TokenSpec, make_model
from icrl.planning import (
    DynamicsLabels,
    Prediction,
    beam_search,
    dynamics_loss,
    most_likely,
    next_state_offset,
    num_outputs,
    sampled,
    split_heads,
)
from icrl.rollout import rollout
from train.methods.dicp.agent import DICPAgent

SIZE = 9


def _room_model(goal, guided=False):
    """A perfect model of Dark Room 9x9 with its goal at ``goal``: ``predict`` and every action's outcome in a
    state; its policy is indifferent, or (``guided``) prefers a step towards the goal."""
    goal = jnp.asarray(goal, jnp.int32)

    def outcomes(state):  # state: (...) cell indices -> Prediction (..., 5)
        pos = jnp.stack([state // SIZE, state % SIZE], -1)
        nxt = jax.vmap(lambda a: move(pos, a, SIZE), out_axes=-2)(jnp.arange(5))  # (..., 5, 2)
        towards = jnp.vectorize(lambda x, y: greedy_step_towards(jnp.stack([x, y]), goal))(pos[..., 0], pos[..., 1])
        policy = jax.nn.one_hot(towards, 5) if guided else jnp.zeros(nxt.shape[:-1])
        return Prediction(jnp.all(nxt == goal, -1).astype(jnp.float32), nxt[..., 0] * SIZE + nxt[..., 1], policy)

    def predict(carry, parents, prev_state, action, reward, state):
        return carry, outcomes(state)

    return predict, outcomes


START = 4 * SIZE + 4
AWAY = jnp.array([0.0, 1.0, 0.0, 3.0, 2.0])  # a policy that would go left, then stay, then down


@functools.partial(jax.jit, static_argnames=("width", "depth", "guided"))
def _plan(goal, steps_left, priority, width, depth, guided):
    predict, outcomes = _room_model(goal, guided)
    return beam_search(predict, None, outcomes(jnp.int32(START)), START, priority, steps_left, width, depth)


def _search(goal, steps_left=20, width=81, depth=8, guided=False, priority=AWAY):
    """The plan from the room's centre (one program per width, depth and policy, whatever the goal)."""
    return _plan(jnp.asarray(goal, jnp.int32), jnp.int32(steps_left), priority, width=width, depth=depth, guided=guided)


@pytest.mark.parametrize("goal, first", [((7, 4), {2}), ((4, 1), {1}), ((6, 6), {0, 2}), ((0, 8), {0, 3})])
def test_planner_with_a_perfect_model_finds_the_shortest_path(goal, first):
    """Beams wide enough to hold every cell (one beam per imagined cell) find the shortest path whatever the policy prefers."""
    _, outcomes = _room_model(goal)
    distance = abs(goal[0] - 4) + abs(goal[1] - 4)
    plan = _search(goal)
    assert int(plan.first) in first
    assert float(plan.value) == 8 - distance + 1  # on the goal from step `distance` to the end of the plan
    assert int(plan.states[distance - 1]) == goal[0] * SIZE + goal[1]
    # the imagined path is a walk of the room: every state follows from the one before by the chosen action
    path = np.concatenate([[START], np.asarray(plan.states)])
    np.testing.assert_array_equal(np.asarray(outcomes(jnp.asarray(path[:-1])).next_state)[np.arange(8), np.asarray(plan.actions)],
                                  path[1:])


def test_planner_without_reward_in_sight_follows_the_policy_and_stops_at_the_episode_end():
    goal = (8, 4)  # 4 steps right of the start
    assert int(_search(goal).first) == 2 and float(_search(goal).value) == 5
    assert int(_search(goal, steps_left=3).first) == 3 and float(_search(goal, steps_left=3).value) == 0  # past the episode
    assert float(_search(goal, steps_left=4).value) == 1  # reached on the episode's last step
    assert int(_search(goal, depth=3).first) == 3  # past the plan's depth: the policy's choice
    # one beam keeps only the best first step: nothing is rewarded there, so it follows the policy and misses the goal
    assert int(_search(goal, width=1).first) == 3 and float(_search(goal, width=1).value) == 0
    # ... unless the policy at the imagined states leads there: ties follow it
    toward = jnp.array([0.0, 0.0, 3.0, 1.0, 0.0])
    assert float(_search(goal, width=1, guided=True, priority=toward).value) == 5
    assert float(_search(goal, width=1, guided=False, priority=toward).value) == 0


def test_expected_reward_plans_head_for_a_likely_but_unlikelier_than_not_reward():
    """A model that gives the goal cell a reward probability of 0.4 (its likelier class is 0): the paper's
    search sees no reward and follows the policy (left); with expected rewards it walks the shortest path
    there and collects 0.4 per step on it (`most_likely` with `expected`, from the model's logits)."""
    goal, p = (7, 4), 0.4
    _, outcomes = _room_model(goal)

    def unsure(state, expected):
        pred = outcomes(state)
        logits = jnp.stack([jnp.zeros_like(pred.reward), jnp.where(pred.reward > 0, np.log(p / (1 - p)), -30.0)], -1)
        return most_likely(pred.policy, logits, jax.nn.one_hot(pred.next_state, SIZE * SIZE) * 30.0, expected)

    def plan(expected):
        return beam_search(lambda c, par, ps, a, r, s: (c, unsure(s, expected)), None, unsure(jnp.int32(START), expected),
                           START, AWAY, jnp.int32(20), 81, 8)

    assert float(unsure(jnp.int32(6 * SIZE + 4), True).reward[2]) == 0  # the token still carries the likelier class
    argmax, expected = plan(False), plan(True)
    assert int(argmax.first) == 3 and float(argmax.value) == 0
    assert int(expected.first) == 2 and int(expected.states[2]) == 7 * SIZE + 4
    np.testing.assert_allclose(float(expected.value), p * (8 - 3 + 1), rtol=1e-5)  # on the goal from imagined step 3


def test_planner_can_ignore_the_heads_of_actions_the_policy_would_not_take():
    """A model that wrongly predicts a reward for staying anywhere, where its policy almost never stays (as a
    source that stays only after the door makes it): the full search stays for the imagined rewards; with
    min_prob the search expands only the likely actions and walks to the goal, and planning's value counts
    only what those actions collect."""
    goal = (7, 4)
    predict, outcomes = _room_model(goal, guided=True)

    def spurious(state):
        pred = outcomes(state)
        stay = jnp.arange(5) == 4
        return Prediction(jnp.where(stay, 1.0, pred.reward), pred.next_state, jnp.where(stay, -10.0, pred.policy))

    def plan(min_prob):
        return beam_search(lambda c, p, ps, a, r, s: (c, spurious(s)), None, spurious(jnp.int32(START)), START,
                           jnp.zeros(5), jnp.int32(20), 10, 8, min_prob)

    assert int(plan(0.0).first) == 4 and float(plan(0.0).value) == 8  # stays, for rewards that are not there
    careful = plan(0.05)
    # three steps right to the goal; never staying, it steps off and back: on it at imagined steps 3, 5 and 7
    assert int(careful.first) == 2 and float(careful.value) == 3
    assert int(careful.states[2]) == 7 * SIZE + 4 and not np.any(np.asarray(careful.actions) == 4)
    from train import config_for
    from train.experiments import build

    with pytest.raises(ValueError, match="plan_min_prob must be in"):
        config_for("darkroom9-dicp", plan_min_prob=1.5)
    with pytest.raises(ValueError, match=r"plan_min_prob=0.5 exceeds 1/5"):
        build(config_for("darkroom9-dicp", plan_min_prob=0.5))  # before any data or training


def test_dynamics_loss_scores_only_the_taken_actions_heads():
    a, s = 3, 4
    key = jax.random.PRNGKey(0)
    outputs = jax.random.normal(key, (2, 5, num_outputs(a, s)))
    labels = DynamicsLabels(jax.random.randint(key, (2, 5), 0, a), jax.random.randint(jax.random.fold_in(key, 1), (2, 5), 0, 2),
                            jax.random.randint(jax.random.fold_in(key, 2), (2, 5), 0, s))
    policy, reward, nxt = split_heads(outputs, a, s)
    ce = optax.softmax_cross_entropy_with_integer_labels
    pick = lambda x: jnp.take_along_axis(x, labels.action[..., None, None], axis=-2)[..., 0, :]  # noqa: E731
    by_hand = ce(policy, labels.action).mean() + 0.5 * (ce(pick(reward), labels.reward).mean() + ce(pick(nxt), labels.next_state).mean())
    np.testing.assert_allclose(dynamics_loss(outputs, labels, a, s, 0.5), by_hand, rtol=1e-6)
    # another action's heads change nothing
    other = (labels.action + 1) % a
    mask = jnp.zeros((2, 5, a), bool).at[jnp.arange(2)[:, None], jnp.arange(5)[None], other].set(True)
    moved = jnp.concatenate([policy, jnp.where(mask[..., None], reward + 3.0, reward).reshape(2, 5, -1),
                             jnp.where(mask[..., None], nxt - 2.0, nxt).reshape(2, 5, -1)], -1)
    np.testing.assert_allclose(dynamics_loss(moved, labels, a, s, 0.5), by_hand, rtol=1e-6)


def test_a_detached_next_state_head_trains_alone_and_leaves_the_shared_layers_to_the_other_losses():
    """``detach_from``: the next-state outputs come from a head of their own; the next-state loss moves that head
    alone, while the action and reward losses train the shared layers (and the detached head never sees them)."""
    a, s, t = 5, 9, 6
    key = jax.random.PRNGKey(3)
    tokens = jax.random.normal(key, (2, t, 7))
    labels = DynamicsLabels(jax.random.randint(key, (2, t), 0, a), jax.random.randint(jax.random.fold_in(key, 1), (2, t), 0, 2),
                            jax.random.randint(jax.random.fold_in(key, 2), (2, t), 0, s))
    model = make_model("transformer", 7, num_outputs(a, s), num_layers=2, width=16, num_heads=2, max_len=t,
                       position_encoding="rotary", detach_from=next_state_offset(a))
    params = model.init(key, tokens)
    assert params["params"]["head"]["kernel"].shape == (16, next_state_offset(a))  # policy and reward logits only

    def grads(reward_and_action, next_state):
        def loss(p):
            policy, reward, nxt = split_heads(model.apply(p, tokens), a, s)
            pick = lambda x: jnp.take_along_axis(x, labels.action[..., None, None], axis=-2)[..., 0, :]  # noqa: E731
            ce = optax.softmax_cross_entropy_with_integer_labels
            return (reward_and_action * (ce(policy, labels.action).mean() + ce(pick(reward), labels.reward).mean())
                    + next_state * ce(pick(nxt), labels.next_state).mean())
        return jax.grad(loss)(params)["params"]

    both, shared_only, next_only = grads(1.0, 1.0), grads(1.0, 0.0), grads(0.0, 1.0)
    detached = ("detached_hidden", "detached_head")
    for name in both:
        if name not in detached:  # every shared layer and the head: as if there were no next-state loss
            jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-7), both[name], shared_only[name])
            assert all(float(jnp.abs(g).max()) == 0 for g in jax.tree.leaves(next_only[name]))
        else:  # the detached head: the next-state loss alone
            jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-7), both[name], next_only[name])
            assert all(float(jnp.abs(g).max()) == 0 for g in jax.tree.leaves(shared_only[name]))
            assert float(jnp.abs(both[name]["kernel"]).max()) > 0
    with pytest.raises(ValueError, match="detach_from"):
        make_model("transformer", 7, num_outputs(a, s), detach_from=num_outputs(a, s), num_layers=1, width=16, num_heads=2,
                   max_len=t).init(key, tokens)


@pytest.mark.parametrize("positions, detach", [("alibi", False), ("rotary", True)])
def test_imagined_steps_on_the_cache_equal_recomputing_the_sequence(positions, detach):
    """Beams continue the real context's KV cache: each beam's outputs equal the model run on the real
    tokens followed by that beam's imagined tokens (past the context's length: the window slides), and a
    plan's path is what the model predicts along it."""
    env, _ = envs.make("darkroom", size=SIZE, horizon=10)
    spec = TokenSpec.for_env(env)
    model = make_model("transformer", token_dim=spec.token_dim, num_outputs=num_outputs(5, SIZE * SIZE), max_len=8,
                       width=16, num_layers=2, num_heads=2, position_encoding=positions,
                       detach_from=next_state_offset(5) if detach else 0)
    params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 2, spec.token_dim)), None)
    agent = DICPAgent(params, model, spec, width=3, depth=4, horizon=10, size=SIZE)
    tasks = env.sample_tasks(jax.random.PRNGKey(1), 1, "train")
    h = jax.tree.map(lambda x: x[0], rollout(env, make_agent("random", env), tasks, jax.random.PRNGKey(2), num_steps=6))
    tokens = spec.tokens(h, queries=jnp.concatenate([h.obs, h.next_obs[-1:]]))  # 7: the last one queries after the six steps
    step = jax.jit(lambda carry, token: model.apply(params, carry, token[None], None, method="step"))
    carry = model.init_carry(1)
    for token in tokens:
        carry, out = step(carry, token)
    policy, rew, nxt = split_heads(out[0], 5, SIZE * SIZE)
    # the model on whole sequences, padded to one length (causal: padding after a position changes nothing there)
    padded = jax.jit(lambda seq: model.apply(params, jnp.pad(seq, ((0, 12 - seq.shape[0]), (0, 0)))[None], None)[0])
    whole = lambda seq: padded(seq)[seq.shape[0] - 1]  # noqa: E731
    np.testing.assert_allclose(policy, whole(tokens)[:5], rtol=2e-4, atol=2e-5)

    def imagined_token(prev, action, reward, cell):
        obs = cell_obs(jnp.int32(cell), SIZE)
        return spec.token(obs, spec.transition(cell_obs(jnp.int32(prev), SIZE), action, reward, obs, 0.0))

    here = int(env.obs_to_index(h.next_obs[-1]))
    beams = [(here, 2, 0.0, 10), (here, 0, 1.0, 30), (here, 4, 0.0, 40)]  # (prev, action, reward, cell): any values
    predict = jax.jit(agent.predict)
    c1, p1 = predict(agent.beams_carry(carry), jnp.zeros(3, jnp.int32), *(jnp.asarray(v) for v in zip(*beams)))
    c2, p2 = predict(c1, jnp.array([2, 0]), jnp.array([40, 10]), jnp.array([1, 3]), jnp.array([0.0, 1.0]), jnp.array([50, 60]))
    second = [(40, 1, 0.0, 50), (10, 3, 1.0, 60)]
    for k, parent in enumerate([2, 0]):
        out = whole(jnp.concatenate([tokens, jnp.stack([imagined_token(*beams[parent]), imagined_token(*second[k])])]))
        p, r, n = split_heads(out, 5, SIZE * SIZE)
        np.testing.assert_allclose(p2.policy[k], p, rtol=2e-4, atol=2e-5)
        np.testing.assert_array_equal(p2.reward[k], jnp.argmax(r, -1))
        np.testing.assert_array_equal(p2.next_state[k], jnp.argmax(n, -1))
    # a whole plan: its path is the model's own most likely outcome at every imagined step
    plan = jax.jit(agent.plan)(jax.random.PRNGKey(9), carry, policy, most_likely(policy, rew, nxt), h.next_obs[-1], jnp.int32(10))
    prev, seq, value = here, [], 0.0
    for d in range(4):
        out = whole(jnp.concatenate([tokens, *[x[None] for x in seq]]))
        _, r, n = split_heads(out, 5, SIZE * SIZE)
        a = int(plan.actions[d])
        assert int(jnp.argmax(n[a])) == int(plan.states[d])
        value += float(jnp.argmax(r[a]))
        seq.append(imagined_token(prev, a, float(jnp.argmax(r[a])), int(plan.states[d])))
        prev = int(plan.states[d])
    assert value == float(plan.value)


def test_sampled_rewards_follow_each_cells_threshold_and_the_agent_draws_them_anew_each_episode():
    logits = jnp.log(jnp.array([[0.9, 0.1], [0.4, 0.6], [0.7, 0.3]]))  # reward probabilities 0.1, 0.6, 0.3
    next_logits = jax.nn.one_hot(jnp.array([0, 1, 2]), 3) * 30.0  # the three actions lead to cells 0, 1, 2
    half = sampled(jnp.zeros(3), logits, next_logits, jnp.full(3, 0.5))
    np.testing.assert_array_equal(half.reward, most_likely(jnp.zeros(3), logits, next_logits).reward)  # 0.5: the likelier class
    np.testing.assert_array_equal(sampled(jnp.zeros(3), logits, next_logits, jnp.array([0.05, 0.9, 0.2])).reward, [1, 0, 1])
    # the agent holds one draw per episode (steps within it keep it) and draws again when an episode ends
    env, _ = envs.make("darkroom", size=SIZE, horizon=4)
    spec = TokenSpec.for_env(env)
    model = make_model("transformer", token_dim=spec.token_dim, num_outputs=num_outputs(5, SIZE * SIZE), max_len=8,
                       width=16, num_layers=1, num_heads=2, position_encoding="rotary")
    params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 2, spec.token_dim)), None)
    agent = DICPAgent(params, model, spec, width=2, depth=2, horizon=4, size=SIZE, plan_reward="sample")
    h = rollout(env, make_agent("random", env), env.sample_tasks(jax.random.PRNGKey(1), 1, "train"), jax.random.PRNGKey(2),
                num_steps=8)
    state = agent.init(jax.random.PRNGKey(3))
    draws = []
    for t in range(8):
        step = jax.tree.map(lambda x: x[0, t], h)
        state = agent.update(state, step)
        draws.append(np.asarray(state.extra.thresholds))
    assert all(np.array_equal(draws[t], draws[0]) for t in range(3)) and not np.array_equal(draws[3], draws[2])
    assert all(np.array_equal(draws[t], draws[3]) for t in range(4, 7))
    assert 0 < draws[0].min() and draws[0].max() < 1 and draws[0].std() > 0.2  # uniform draws, one per cell
    acted = rollout(env, agent, env.sample_tasks(jax.random.PRNGKey(1), 2, "train"), jax.random.PRNGKey(4), num_steps=8)
    assert acted.action.shape == (2, 8) and bool(jnp.all((acted.action >= 0) & (acted.action < 5)))  # it jits and vmaps
    with pytest.raises(ValueError, match="plan_reward must be one of"):
        DICPAgent(params, model, spec, width=2, depth=2, horizon=4, size=SIZE, plan_reward="mean")


def test_dicp_settings_are_checked():
    from train import config_for
    from train.experiments import build

    with pytest.raises(ValueError, match="beam_widths must be distinct"):
        config_for("darkroom9-dicp", beam_widths=(4, 4))
    with pytest.raises(ValueError, match="relative positions"):
        config_for("darkroom9-dicp", position_encoding="learned")
    with pytest.raises(ValueError, match="is not one"):
        build(config_for("darkroom9-dicp", env="bernoulli-bandit", baselines=("random",)))
    with pytest.raises(ValueError, match="spans 13 episodes"):
        config_for("darkroom9-dicp", history_episodes=12)
    with pytest.raises(ValueError, match="window_starts must be one of"):
        config_for("darkroom9-dicp", window_starts="middle")
    with pytest.raises(ValueError, match="window_starts='step' needs episode_stride=1, got 4"):
        build(config_for("darkroom9-dicp", window_starts="step"))
    assert build(config_for("darkroom9-dicp", window_starts="step", episode_stride=1)).objective.window_starts == "step"
    # runs recorded before DICP had the setting (windows from episode starts) still match their records
    assert "window_starts" not in config_for("darkroom9-dicp").trained_fields()
    assert config_for("darkroom9-dicp", window_starts="step", episode_stride=1).trained_fields()["window_starts"] == "step"
    with pytest.raises(ValueError, match="both 0"):
        DICPAgent(None, None, None, width=3, depth=0)
    with pytest.raises(ValueError, match=r"min_prob must be in \[0, 1/5\]"):
        DICPAgent(None, None, TokenSpec(2, 5), width=3, depth=2, min_prob=0.5)


def test_a_tiny_dicp_run_beats_random_on_held_out_goals_and_two_steps_do_not(tmp_path):
    from train import config_for, run_experiment
    from train.experiments import evaluate_run

    def later_return(steps):
        cfg = config_for("darkroom9-dicp", size=5, horizon=10, history_episodes=24, episode_stride=2, num_train_tasks=400,
                         train_steps=steps, microbatches=1, learning_rate=3e-3, eval_tasks=25, eval_episodes=8, width=32, num_layers=2, plan_depth=4,
                         beam_widths=(4,), out_dir=str(tmp_path), baselines=("random",))
        methods = run_experiment(cfg, f"s{steps}", progress=False)["methods"]
        return {name: float(np.mean(m["episode_return"][2:])) for name, m in methods.items()}

    trained, untrained = later_return(300), later_return(2)  # Q-learning's histories: 2.3 against random's 0.4
    assert trained["DICP"] > 3 * trained["random"], trained
    assert untrained["DICP"] < trained["DICP"] - 0.5, (untrained, trained)
    # a saved run deploys again with other beams, without training; training settings cannot change so
    again = evaluate_run(str(tmp_path / "s300"), beam_widths=(0,), eval_tasks=5, eval_episodes=2)
    assert set(again["methods"]) == {"DICP (planning off)", "random"}
    with pytest.raises(ValueError, match="only evaluation settings can change"):
        evaluate_run(str(tmp_path / "s300"), dynamics_weight=0.5)
