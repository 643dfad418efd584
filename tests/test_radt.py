import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from icrl.models import TokenSpec, make_model
from icrl.objectives import Weighted
from icrl.retrieval import ChunkMemory, cosine, select
from icrl.rollout import rollout
from icrl.types import History, Samples, Transition
from train.methods.radt.agent import RADTAgent
from train.methods.radt.objective import RADTObjective


def test_retrieval_returns_the_chunk_the_current_context_matches():
    """Chunk 3 repeats the window's last four steps (the current context); with no utility it is the one
    retrieved first, and its value is chunk 3 and its continuation, flagged as retrieved. The steps just
    before the window (a stale query) match chunk 1 and do not choose."""
    rng = np.random.default_rng(0)
    chunk, dim = 4, 6
    tokens = rng.normal(size=(48, dim)).astype(np.float32)
    tokens[12:16] = tokens[40:44]  # the window is steps [36, 44): its last chunk
    tokens[4:8] = tokens[32:36]  # the steps just before the window
    memory = ChunkMemory(chunk, retrieved=2, candidates=5, utility_weight=0.0)
    indices, found = memory.retrieve(jnp.asarray(tokens), jnp.zeros(48), 36, 44, jax.random.PRNGKey(0))
    assert int(indices[0]) == 3 and bool(found.all())
    prefix = np.asarray(memory.prefix(jnp.asarray(tokens), jnp.zeros(48), 36, 44, jax.random.PRNGKey(0)))
    np.testing.assert_allclose(prefix[:8, :dim], tokens[12:20], rtol=1e-6)
    assert (prefix[:, dim] == 1).all()
    sequence = np.asarray(memory.sequence(jnp.asarray(tokens), jnp.zeros(48), 36, 8, jax.random.PRNGKey(0)))
    np.testing.assert_allclose(sequence[:8, :dim], tokens[12:20], rtol=1e-6)  # the model's input queries the same way


def test_utility_reweights_among_similar_chunks_and_only_valid_chunks_are_chosen():
    similarity = jnp.array([0.9, 0.8, 0.7, 0.95, -0.2])
    utility = jnp.array([0.0, 0.0, 9.0, 0.0, 9.0])
    valid = jnp.array([True, True, True, False, True])
    key = jax.random.PRNGKey(0)
    plain, _ = select(key, similarity, utility, valid, 2, 3, utility_weight=0.0)
    assert list(np.asarray(plain)) == [0, 1]  # chunk 3 is more similar but not valid
    weighted, _ = select(key, similarity, utility, valid, 2, 3, utility_weight=1.0)
    assert list(np.asarray(weighted)) == [2, 0]  # chunk 2's reward lifts it; chunk 4 is not among the 3 most similar
    _, found = select(key, similarity, utility, jnp.array([False, True, False, False, False]), 2, 3, 1.0)
    assert list(np.asarray(found)) == [True, False]
    for seed in range(20):  # random retrieval draws only valid chunks
        drawn, found = select(jax.random.PRNGKey(seed), similarity, utility, valid, 2, 5, 1.0, mode="random")
        assert np.asarray(valid)[np.asarray(drawn)[np.asarray(found)]].all()
    assert float(cosine(jnp.ones(3), jnp.zeros((2, 3)))[0]) == 0.0


def _marked_data(num_tasks=6, num_steps=60, horizon=10):
    """Histories whose reward at step t of task i is 1000 i + t + 1: a token's reward feature (the previous step's)
    names the task and the step it came from."""
    steps = np.arange(num_steps)
    zeros = np.zeros((num_tasks, num_steps, 2), np.int32)
    reward = (1000 * np.arange(num_tasks)[:, None] + steps + 1).astype(np.float32)
    done = np.broadcast_to((steps % horizon) == horizon - 1, (num_tasks, num_steps))
    action = np.broadcast_to(steps % 5, (num_tasks, num_steps)).astype(np.int32)
    return Samples(History(zeros, action, reward, zeros, done))


def test_training_retrieves_only_the_windows_own_history_before_it():
    env, _ = envs.make("darkroom", size=3, horizon=10)
    spec = dataclasses.replace(TokenSpec.for_env(env), num_conditions=1)
    objective = RADTObjective(spec, 10, 1, ChunkMemory(5, retrieved=3, candidates=6))
    tokens, _, labels = objective.sample_batch(_marked_data(), jax.random.PRNGKey(0), 64)
    assert tokens.shape == (64, 30 + 10, spec.token_dim) and isinstance(labels, Weighted)
    np.testing.assert_array_equal(np.asarray(labels.weights), np.repeat([[0.0] * 30 + [1.0] * 10], 64, 0))
    mark = np.asarray(tokens[..., 2 * spec.obs_dim + spec.num_actions])  # each token's reward feature
    window_task, window_start = mark[:, 31] // 1000, mark[:, 31] % 1000 - 1  # the window's second token: step start
    retrieved = np.asarray(tokens[:, :30, -1]) == 1
    assert retrieved.any() and (window_start >= 20).any()
    prefix_task, prefix_step = mark[:, :30] // 1000, mark[:, :30] % 1000  # token t holds step t - 1's reward: t
    for row in range(64):
        seen = retrieved[row] & (mark[row, :30] > 0)
        assert (prefix_task[row][seen] == window_task[row]).all(), "a chunk of another task was retrieved"
        assert (prefix_step[row][seen] < window_start[row]).all(), "a chunk from the window or after it was retrieved"
        assert not retrieved[row].any() or window_start[row] >= 10  # a value (10 steps) must fit before the window


def test_a_window_of_steps_begins_anywhere_in_the_history_and_retrieves_only_before_it():
    """window_steps=4 in episodes of 10: windows of 4 steps that begin at every step they fit after (also mid-episode and
    in the last episode's tail), behind values retrieved from their own history before them."""
    env, _ = envs.make("darkroom", size=3, horizon=10)
    spec = dataclasses.replace(TokenSpec.for_env(env), num_conditions=1)
    objective = RADTObjective(spec, 10, 1, ChunkMemory(5, retrieved=3, candidates=6), window_steps=4)
    objective.check({"num_episodes": 6})
    with pytest.raises(ValueError, match="a window of 70 steps is longer than the histories of 6 episodes of 10 steps"):
        RADTObjective(spec, 10, 1, ChunkMemory(5, retrieved=3, candidates=6), window_steps=70).check({"num_episodes": 6})
    tokens, _, labels = objective.sample_batch(_marked_data(), jax.random.PRNGKey(0), 512)
    assert tokens.shape == (512, 30 + 4, spec.token_dim)
    mark = np.asarray(tokens[..., 2 * spec.obs_dim + spec.num_actions])
    task, start = mark[:, 31] // 1000, mark[:, 31] % 1000 - 1
    np.testing.assert_array_equal(mark[:, 31:34] % 1000 - 1, start[:, None] + np.arange(3))  # consecutive steps
    assert start.max() == 56 and start.min() <= 1 and len(set(start % 10)) == 10  # every start that fits, mid-episode too
    np.testing.assert_array_equal(np.asarray(labels.labels)[:, 30:], (start[:, None] + np.arange(4)) % 5)  # the window's actions
    retrieved = np.asarray(tokens[:, :30, -1]) == 1
    seen = retrieved & (mark[:, :30] > 0)
    assert seen.any()
    assert ((mark[:, :30] // 1000 == task[:, None]) | ~seen).all(), "a chunk of another task was retrieved"
    assert ((mark[:, :30] % 1000 < start[:, None]) | ~seen).all(), "a chunk from the window or after it was retrieved"


def test_deployed_agent_sees_what_training_shows_for_its_own_history():
    """The agent's logits at every step equal the model run on the layout the objective builds from the
    rollout's history: the retrieved values of its own earlier steps, then its window."""
    env, _ = envs.make("darkroom", size=3, horizon=6)
    spec = dataclasses.replace(TokenSpec.for_env(env), num_conditions=1)
    memory = ChunkMemory(3, retrieved=2, candidates=4)
    model = make_model("transformer", token_dim=spec.token_dim, num_outputs=env.num_actions, max_len=memory.prefix_len + 6,
                       width=16, num_layers=1, num_heads=2)
    params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 2, spec.token_dim)), None)
    agent = RADTAgent(params, model, spec, memory, window=6, capacity=24)
    tasks = env.sample_tasks(jax.random.PRNGKey(1), 1, "train")
    h = jax.tree.map(lambda x: x[0], rollout(env, agent, tasks, jax.random.PRNGKey(2), num_steps=24))
    base = dataclasses.replace(spec, num_conditions=0)
    tokens = base.tokens(h)
    step, act, update = jax.jit(agent.action_logits), jax.jit(agent.act), jax.jit(agent.update)

    @jax.jit
    def expected(t):  # the training layout: values retrieved from the steps before the window by its last steps, then the window
        start = jnp.maximum(0, t - 5)
        prefix = memory.prefix(tokens, h.reward, start, start + 6, None)
        window = jnp.concatenate([jax.lax.dynamic_slice_in_dim(tokens, start, 6), jnp.zeros((6, 1))], -1)
        return model.apply(params, jnp.concatenate([prefix, window])[None], None)[0, memory.prefix_len + t - start]

    state = agent.init(None)
    for t in range(24):
        logits, _ = step(jax.random.PRNGKey(t), state, h.obs[t])
        np.testing.assert_allclose(np.asarray(logits), np.asarray(expected(t)[: env.num_actions]), rtol=2e-4, atol=2e-5)
        _, state = act(jax.random.PRNGKey(t), state, h.obs[t])
        transition = jax.tree.map(lambda x: x[t], (h.obs, h.action, h.reward, h.next_obs, h.done))
        state = update(state, Transition(*transition))
    with pytest.raises(ValueError, match="longer than the agent's memory"):
        rollout(env, agent, tasks, jax.random.PRNGKey(2), num_steps=30)


def test_radt_settings_are_checked():
    from train import config_for
    from train.experiments import build

    with pytest.raises(ValueError, match="candidates=2 must be at least retrieved=4"):
        config_for("darkroom9-radt", candidates=2)
    with pytest.raises(ValueError, match="retrieval must be one of"):
        config_for("darkroom9-radt", retrieval="nearest")
    with pytest.raises(ValueError, match="has none"):
        build(config_for("darkroom9-radt", env="bernoulli-bandit", baselines=("random",)))
    with pytest.raises(ValueError, match="data_source must be 'fixed'"):
        config_for("darkroom9-radt", data_source="stream")
    with pytest.raises(ValueError, match="window_steps must be an integer >= 0, got -1"):
        config_for("darkroom9-radt", window_steps=-1)
    with pytest.raises(ValueError, match="context_episodes must then be 1, got 2"):
        config_for("darkroom9-radt", window_steps=10, context_episodes=2)


def test_a_tiny_radt_run_beats_random_on_held_out_goals_and_two_steps_do_not(tmp_path):
    from train import config_for, run_experiment

    def later_return(steps):
        cfg = config_for("darkroom9-radt", size=5, horizon=10, history_episodes=8, chunk_steps=5, retrieved=2, candidates=4,
                         num_train_tasks=500, train_steps=steps, microbatches=1, learning_rate=3e-3, eval_tasks=25, eval_episodes=8, width=32, num_layers=2,
                         out_dir=str(tmp_path), baselines=("random",))
        methods = run_experiment(cfg, f"s{steps}", progress=False)["methods"]
        return {name: float(np.mean(m["episode_return"][2:])) for name, m in methods.items()}

    trained, untrained = later_return(150), later_return(2)  # 4.7 against random's 0.4
    assert trained["RA-DT"] > 2 * trained["random"] + 1.0, trained
    assert untrained["RA-DT"] < trained["RA-DT"] - 1.0, (untrained, trained)
