import dataclasses
import functools
import os

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import envs
from icrl import cumulative_regret, episode_returns, make_agent, rollout
from icrl.agents import ModelAgent
from icrl.checkpoints import CheckpointError
from icrl.models import S5, TokenSpec, Transformer
from icrl.runs import load_agent, load_model, load_params, read_metrics
from icrl.training import TrainConfig, Trainer, train
from train.methods.ad.data import make_ad_dataset
from train.methods.ad.objective import ADObjective
from train.methods.dpt.data import make_dpt_dataset
from train.methods.dpt.objective import DPTObjective

HORIZON = 30


@pytest.fixture(scope="module")
def bandit():
    env, _ = envs.make("bernoulli-bandit", num_arms=5, horizon=HORIZON)
    return env, TokenSpec.for_env(env)


@pytest.fixture(scope="module")
def dpt_data(bandit):
    env, _ = bandit
    return make_dpt_dataset(env, jax.random.PRNGKey(0), 3000, HORIZON)


def _tiny_transformer(spec, max_len=HORIZON + 1, **kw):
    return Transformer(spec.token_dim, spec.num_actions, max_len=max_len, num_layers=2, num_heads=2, width=32, **kw)


def _held_out_regret(env, agent, n=400):
    tasks = env.sample_tasks(jax.random.PRNGKey(123), n, "test")
    h = rollout(env, agent, tasks, jax.random.PRNGKey(7), HORIZON)
    return np.asarray(cumulative_regret(h)[:, -1])


def _beats_random(env, agent):
    model_regret = _held_out_regret(env, agent)
    random_regret = _held_out_regret(env, make_agent("random", env))
    diff = random_regret - model_regret  # same tasks, paired
    margin = 1.96 * diff.std(ddof=1) / np.sqrt(len(diff))
    assert diff.mean() - margin > 0.25 * random_regret.mean(), (model_regret.mean(), random_regret.mean())


@pytest.mark.slow  # bandit DPT learning is shown by test_streams' streamed run, training on a fixed dataset by AD-S5's below
def test_dpt_end_to_end_beats_random_on_held_out_tasks(bandit, dpt_data):
    env, spec = bandit
    model = _tiny_transformer(spec)
    cfg = TrainConfig(train_steps=400, batch_size=128, learning_rate=3e-3, warmup_steps=10, log_every=100, num_devices=1)
    params, logs = train(model, DPTObjective(spec), dpt_data.samples, cfg, progress=False)
    assert logs[-1]["loss"] < logs[0]["loss"]
    _beats_random(env, ModelAgent(params, model, spec))
    _beats_random(env, ModelAgent(params, model, spec, greedy=True))


@pytest.mark.slow  # grid-world DPT learning is shown by the posterior-sampled labels' test (the darkroom-dpt preset's)
def test_dpt_on_dark_room_learns_in_context_on_held_out_goals():
    """Grid-world DPT: contexts of 3 random-walk episodes in a 5x5 room; in one growing
    context on held-out goals, the last episode beats the first and beats random."""
    env, _ = envs.make("darkroom", size=5, horizon=10)
    spec = TokenSpec.for_env(env)
    data = make_dpt_dataset(env, jax.random.PRNGKey(0), 20_000, 3 * env.horizon)
    model = Transformer(spec.token_dim, spec.num_actions, max_len=3 * env.horizon + 1, num_layers=2, num_heads=2, width=32)
    cfg = TrainConfig(train_steps=500, batch_size=64, learning_rate=3e-3, warmup_steps=10, log_every=100, num_devices=1)
    params, _ = train(model, DPTObjective(spec), data.samples, cfg, progress=False)
    tasks = env.sample_tasks(jax.random.PRNGKey(123), 400, "test")

    def returns(agent):
        return np.asarray(episode_returns(rollout(env, agent, tasks, jax.random.PRNGKey(7), num_episodes=3), env.horizon))

    dpt, rand = returns(ModelAgent(params, model, spec)), returns(make_agent("random", env))
    for diff, bound in ((dpt[:, -1] - dpt[:, 0], 0.15), (dpt[:, -1] - rand[:, -1], 0.4)):  # paired over tasks
        assert diff.mean() - 1.96 * diff.std(ddof=1) / np.sqrt(len(diff)) > bound, (dpt.mean(0), rand.mean(0))


def test_ad_s5_end_to_end_imitates_thompson(bandit):
    env, spec = bandit
    data = make_ad_dataset(env, jax.random.PRNGKey(1), 3000, 1, source="thompson")
    model = S5(spec.token_dim, spec.num_actions, num_layers=2, width=32, state_size=16)
    cfg = TrainConfig(train_steps=400, batch_size=128, learning_rate=3e-3, warmup_steps=10, log_every=100, num_devices=1)
    params, _ = train(model, ADObjective(spec, HORIZON, 1), data.samples, cfg, progress=False)
    _beats_random(env, ModelAgent(params, model, spec))


def _losses(spec, data, **kw):
    kw.setdefault("num_devices", 1)
    cfg = TrainConfig(train_steps=6, batch_size=8, log_every=1, warmup_steps=2, **kw)
    return train(_tiny_transformer(spec), DPTObjective(spec), data.samples, cfg, progress=False)


@pytest.mark.slow  # same seed, same parameters: also shown by the resume tests below and test_streams' (fixed and streamed)
def test_same_seed_same_loss_curve(bandit, dpt_data):
    _, spec = bandit
    p1, a = _losses(spec, dpt_data, seed=3)
    p2, b = _losses(spec, dpt_data, seed=3)
    assert [x["loss"] for x in a] == [x["loss"] for x in b]
    chex.assert_trees_all_equal(p1, p2)
    _, c = _losses(spec, dpt_data, seed=4)
    assert [x["loss"] for x in a] != [x["loss"] for x in c]


def test_sharded_step_equals_unsharded(bandit, dpt_data):
    """Data parallel over two forced host devices: every device holds every task and draws its share of
    the batch's row groups with their own keys, so the batch is exactly one device's, and the loss and
    gradients equal one device's to float rounding."""
    _, spec = bandit
    assert len(jax.devices()) == 2  # tests force two host devices (conftest)
    model, obj = _tiny_transformer(spec), DPTObjective(spec)
    figures = {}
    for devices in (1, 2):
        trainer = Trainer(model, obj, TrainConfig(batch_size=16, num_devices=devices))
        data = trainer.put_data(dpt_data.samples)
        assert data.history.action.sharding.shard_shape(data.history.action.shape)[0] == dpt_data.num_tasks  # whole
        state = trainer.init_state()
        batch = jax.device_get(trainer.batch(3, data))
        figures[devices] = batch, jax.device_get(trainer.loss_and_grads(state, data))
        state, _ = trainer.step(state, data)
        assert len(state.params["params"]["head"]["kernel"].sharding.device_set) == devices  # replicated on each
    chex.assert_trees_all_equal(figures[1][0], figures[2][0])
    np.testing.assert_allclose(figures[2][1][0], figures[1][1][0], rtol=1e-6)
    chex.assert_trees_all_close(figures[2][1][1], figures[1][1][1], atol=1e-6)
    with pytest.raises(ValueError, match="batch_size=7 must be divisible by the number of devices \\(2\\)"):
        Trainer(model, obj, TrainConfig(batch_size=7))


def test_microbatches_give_the_whole_batch_step_in_less_memory(bandit, dpt_data):
    """Gradient accumulation over 4 microbatches on two devices: the loss and gradients of the whole
    batch (no dropout), and the compiled step needs at most half the temporaries."""
    _, spec = bandit
    model, obj = _tiny_transformer(spec), DPTObjective(spec)
    figures, temps = {}, {}
    for parts in (1, 4):
        trainer = Trainer(model, obj, TrainConfig(batch_size=64, num_devices=2, microbatches=parts))
        state, data = trainer.init_state(), trainer.put_data(dpt_data.samples)
        compiled = trainer._grads.lower(state, data).compile()  # what loss_and_grads runs
        figures[parts], temps[parts] = jax.device_get(compiled(state, data)), compiled.memory_analysis().temp_size_in_bytes
    np.testing.assert_allclose(figures[4][0], figures[1][0], rtol=1e-6)
    chex.assert_trees_all_close(figures[4][1], figures[1][1], atol=1e-6)
    assert temps[4] <= temps[1] / 2, temps
    with pytest.warns(UserWarning, match="microbatches=3 does not split each device's share of the batch \\(64 over 2 devices: 32\\) evenly; using 2"):
        assert Trainer(model, obj, TrainConfig(batch_size=64, num_devices=2, microbatches=3)).microbatches == 2


def test_resume_after_kill_matches_uninterrupted_run(bandit, dpt_data, tmp_path):
    _, spec = bandit
    cfg = TrainConfig(train_steps=12, batch_size=8, warmup_steps=2, log_every=4, checkpoint_every=5, num_devices=1)
    model, obj = _tiny_transformer(spec), DPTObjective(spec)
    full, _ = train(model, obj, dpt_data.samples, cfg, run_dir=str(tmp_path / "a"), progress=False)
    part, _ = train(model, obj, dpt_data.samples, cfg, run_dir=str(tmp_path / "b"), progress=False, stop_after=7)
    assert sorted(os.listdir(tmp_path / "b" / "checkpoints")) == ["5", "7"]
    resumed, _ = train(model, obj, dpt_data.samples, cfg, run_dir=str(tmp_path / "b"), progress=False)
    chex.assert_trees_all_close(resumed, full, atol=1e-7)
    assert not jax.tree.reduce(lambda a, b: a and b, jax.tree.map(lambda x, y: np.allclose(x, y), part, full))
    chex.assert_trees_all_close(load_params(str(tmp_path / "b"), model), full, atol=1e-7)
    rebuilt, loaded, _ = load_model(str(tmp_path / "b"))
    assert rebuilt == model
    chex.assert_trees_all_close(loaded, full, atol=1e-7)
    metrics = read_metrics(str(tmp_path / "b"))  # one log across the kill; its clock keeps counting
    assert [e["step"] for e in metrics] == [4, 8, 12]
    assert np.all(np.diff([e["elapsed_s"] for e in metrics]) >= 0)
    # a kill after a step was logged but before its checkpoint: the resumed run logs steps 6 and 8 once
    # each, and the time spent on the lost steps 6-8 still counts
    cfg = TrainConfig(train_steps=12, batch_size=8, warmup_steps=2, log_every=2, checkpoint_every=5, num_devices=1)
    train(model, obj, dpt_data.samples, cfg, run_dir=str(tmp_path / "c"), progress=False, stop_after=9)
    import shutil

    shutil.rmtree(tmp_path / "c" / "checkpoints" / "9")  # as if killed between the log of step 8 and a checkpoint
    lost = read_metrics(str(tmp_path / "c"))[-1]
    assert lost["step"] == 8
    train(model, obj, dpt_data.samples, cfg, run_dir=str(tmp_path / "c"), progress=False)
    metrics = read_metrics(str(tmp_path / "c"))
    assert [e["step"] for e in metrics] == [2, 4, 6, 8, 10, 12]
    assert metrics[2]["elapsed_s"] >= lost["elapsed_s"] and np.all(np.diff([e["elapsed_s"] for e in metrics]) >= 0)
    # --tensorboard (a pacing setting: it resumes the same run) writes the logged losses as TensorBoard events
    cfg = dataclasses.replace(cfg, train_steps=14, tensorboard=True)
    with pytest.raises(CheckpointError):  # train_steps shapes the schedule: refused, and nothing is written
        train(model, obj, dpt_data.samples, cfg, run_dir=str(tmp_path / "c"), progress=False)
    assert not (tmp_path / "c" / "tensorboard").exists()
    cfg = dataclasses.replace(cfg, train_steps=12, checkpoint_every=0)
    train(model, obj, dpt_data.samples, cfg, run_dir=str(tmp_path / "d"), progress=False)
    events = _tensorboard_scalars(tmp_path / "d" / "tensorboard")
    logged = read_metrics(str(tmp_path / "d"))
    assert [step for step, _ in events["loss"]] == [e["step"] for e in logged]
    np.testing.assert_allclose([v for _, v in events["loss"]], [e["loss"] for e in logged], rtol=1e-6)


def _tensorboard_scalars(directory) -> dict:
    """``{tag: [(step, value)]}`` read back from TensorBoard event files (TFRecord framing of Event protos)."""
    import struct

    from tensorboardX.proto import event_pb2

    out = {}
    for name in sorted(os.listdir(directory)):
        data = open(os.path.join(directory, name), "rb").read()
        at = 0
        while at < len(data):
            (length,) = struct.unpack("<Q", data[at: at + 8])
            event = event_pb2.Event.FromString(data[at + 12: at + 12 + length])
            at += 12 + length + 4
            for value in event.summary.value:
                out.setdefault(value.tag, []).append((event.step, value.simple_value))
    return out


def test_load_agent_rebuilds_the_model_from_its_run(bandit, dpt_data, tmp_path):
    env, spec = bandit
    cfg = TrainConfig(train_steps=3, batch_size=8, warmup_steps=1, num_devices=1)
    model = _tiny_transformer(spec)
    params, _ = train(model, DPTObjective(spec), dpt_data.samples, cfg, run_dir=str(tmp_path), progress=False)
    tasks = env.sample_tasks(jax.random.PRNGKey(3), 20, "test")
    direct = rollout(env, ModelAgent(params, model, spec, greedy=True), tasks, jax.random.PRNGKey(4), HORIZON)
    loaded = rollout(env, load_agent(str(tmp_path), env, greedy=True), tasks, jax.random.PRNGKey(4), HORIZON)
    np.testing.assert_array_equal(np.asarray(direct.action), np.asarray(loaded.action))
    longer, _ = envs.make("bernoulli-bandit", num_arms=5, horizon=2 * HORIZON)  # another horizon: relative
    rollout(longer, load_agent(str(tmp_path), longer), tasks, jax.random.PRNGKey(4), 2 * HORIZON)  # positions slide
    learned = _tiny_transformer(spec, position_encoding="learned")
    train(learned, DPTObjective(spec), dpt_data.samples, cfg, run_dir=str(tmp_path / "learned"), progress=False)
    with pytest.raises(ValueError, match="longer than the model's context"):  # learned ones: refused beyond it
        rollout(longer, load_agent(str(tmp_path / "learned"), longer), tasks, jax.random.PRNGKey(4), 2 * HORIZON)
    other, _ = envs.make("bernoulli-bandit", num_arms=3, horizon=HORIZON)
    with pytest.raises(ValueError, match="5 actions; environment 'bernoulli-bandit' gives .* and 3 actions"):
        load_agent(str(tmp_path), other)


def test_checkpoint_errors(bandit, dpt_data, tmp_path):
    _, spec = bandit
    cfg = TrainConfig(train_steps=3, batch_size=8, warmup_steps=1, log_every=1, checkpoint_every=3, num_devices=1)
    obj = DPTObjective(spec)
    train(_tiny_transformer(spec), obj, dpt_data.samples, cfg, run_dir=str(tmp_path / "r"), progress=False)
    wider = Transformer(spec.token_dim, spec.num_actions, max_len=HORIZON + 1, num_layers=2, num_heads=2, width=48)
    with pytest.raises(CheckpointError, match="model.width=32, but this run has model.width=48"):
        train(wider, obj, dpt_data.samples, cfg, run_dir=str(tmp_path / "r"), progress=False)
    with pytest.raises(CheckpointError, match="learning_rate"):
        train(_tiny_transformer(spec), obj, dpt_data.samples, TrainConfig(train_steps=3, batch_size=8, learning_rate=0.5, num_devices=1), run_dir=str(tmp_path / "r"), progress=False)
    # corrupt every file of the saved state
    state_dir = tmp_path / "r" / "checkpoints" / "3" / "state"
    for root, _, files in os.walk(state_dir):
        for f in files:
            with open(os.path.join(root, f), "wb") as fh:
                fh.write(b"garbage")
    with pytest.raises(CheckpointError, match="corrupt|unreadable"):  # reading a run: a clear error
        load_params(str(tmp_path / "r"), _tiny_transformer(spec))
    with pytest.warns(UserWarning, match="is corrupt.*moved it to"):  # training: set aside, and none older: start over
        train(_tiny_transformer(spec), obj, dpt_data.samples, cfg, run_dir=str(tmp_path / "r"), progress=False)
    assert (tmp_path / "r" / "checkpoints" / "3.unreadable").is_dir()
    with pytest.raises(FileNotFoundError, match="no checkpoints"):
        load_params(str(tmp_path / "missing"), _tiny_transformer(spec))


def test_model_agent_refuses_horizon_beyond_context(bandit):
    env, spec = bandit
    model = _tiny_transformer(spec, max_len=20, position_encoding="learned")
    params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 2, spec.token_dim)))
    tasks = env.sample_tasks(jax.random.PRNGKey(0), 2)
    with pytest.raises(ValueError, match="30 steps is longer than the model's context \\(max_len=20, learned positions\\)"):
        rollout(env, ModelAgent(params, model, spec), tasks, jax.random.PRNGKey(0), HORIZON)


def test_model_agent_with_non_finite_outputs_is_refused():
    """A model whose outputs are NaN plays -1, and rollout refuses the history naming the step,
    instead of sampling action 0 from NaN logits."""
    env, spec = envs.make("bernoulli-bandit", num_arms=5, horizon=HORIZON)[0], None
    spec = TokenSpec.for_env(env)
    model = _tiny_transformer(spec)
    params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 2, spec.token_dim)))
    broken = jax.tree.map(lambda x: jnp.full_like(x, jnp.nan), params)
    tasks = env.sample_tasks(jax.random.PRNGKey(0), 3)
    with pytest.raises(ValueError, match="played action -1 at step 0"):
        rollout(env, ModelAgent(broken, model, spec), tasks, jax.random.PRNGKey(0), 5)


def test_held_out_loss_reveals_memorisation(bandit):
    """Trained long on 16 contexts, a model's training loss falls far below its loss on fresh
    contexts of the same distribution, which is what experiments report as final_loss."""
    env, spec = bandit
    small = make_dpt_dataset(env, jax.random.PRNGKey(5), 16, HORIZON)
    fresh = make_dpt_dataset(env, jax.random.PRNGKey(6), 512, HORIZON)
    model = _tiny_transformer(spec, max_len=HORIZON + 1)
    cfg = TrainConfig(train_steps=300, batch_size=16, learning_rate=3e-3, warmup_steps=10, weight_decay=0.0, num_devices=1)
    params, _ = train(model, DPTObjective(spec), small, cfg, progress=False)
    trainer = Trainer(model, DPTObjective(spec), cfg)
    seen, held_out = trainer.mean_loss(params, small.samples), trainer.mean_loss(params, fresh.samples)
    assert held_out > seen + 0.3, (seen, held_out)
    assert trainer.mean_loss(params, fresh.samples) == held_out  # fixed keys: the same figure every time


@pytest.mark.parametrize("steps,warmup", [(300, 10), (2, 50), (1, 0), (40, 0)])
def test_schedule_from_traced_values_equals_optax(steps, warmup):
    """The step takes the schedule's settings as data (so runs of other lengths share one compiled
    program); its learning rates are optax's warm-up cosine schedule's, at every step."""
    from icrl.training import schedule_values, warmup_cosine

    cfg = TrainConfig(train_steps=steps, warmup_steps=warmup, learning_rate=3e-3)
    expected = optax.warmup_cosine_decay_schedule(0.0, 3e-3, min(warmup, steps - 1), max(steps, 1), 3e-4)
    counts = jnp.arange(steps + 2)
    ours = jax.jit(jax.vmap(warmup_cosine, in_axes=(0, None)))(counts, jnp.asarray(schedule_values(cfg)))
    np.testing.assert_allclose(ours, jax.vmap(expected)(counts), rtol=1e-5, atol=1e-9)


def test_weight_decay_spares_biases_norms_positions_and_s5_dynamics():
    from icrl.training import make_optimizer

    opt = make_optimizer(TrainConfig(train_steps=10, warmup_steps=0, learning_rate=0.1, weight_decay=0.5))
    for model in (S5(6, 4, num_layers=1, width=8, state_size=4),
                  Transformer(6, 4, max_len=8, num_layers=1, num_heads=2, width=8, position_encoding="learned")):

        @jax.jit  # one compiled program rather than every operation compiled on its own
        def moved(key):
            params = model.init(key, jnp.zeros((1, 3, 6)))
            updates, _ = opt.update(jax.tree.map(jnp.zeros_like, params), opt.init(params), params)
            return jax.tree.map(lambda u: jnp.any(u != 0), updates)

        for path, changed in jax.tree_util.tree_leaves_with_path(jax.device_get(moved(jax.random.PRNGKey(0)))):
            name = path[-1].key
            assert bool(changed) == (name in ("kernel", "c", "d")), name


def test_episode_frozen_context_holds_within_an_episode():
    """context="episode": within an episode the model acts on the earlier episodes only. Its
    logits equal the parallel model run over those episodes' tokens plus one query token, and do
    not move with the current episode's transitions, which the per-step context does see."""
    from icrl.types import Transition

    env, _ = envs.make("darkroom", size=4, horizon=3)
    spec = TokenSpec.for_env(env)
    model = Transformer(spec.token_dim, spec.num_actions, max_len=12, num_layers=2, num_heads=2, width=16)
    params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 2, spec.token_dim)))
    frozen, growing = ModelAgent(params, model, spec, context="episode"), ModelAgent(params, model, spec)
    step = lambda o, a, r, n, d: Transition(jnp.array(o), jnp.int32(a), jnp.float32(r), jnp.array(n), jnp.bool_(d))  # noqa: E731
    episode_1 = [step([2, 2], 0, 0.0, [2, 3], False), step([2, 3], 2, 0.0, [3, 3], False), step([3, 3], 1, 1.0, [3, 2], True)]

    def play(agent, transitions):
        state = agent.init(None)
        for tr in transitions:
            _, state = agent.act(jax.random.PRNGKey(0), state, tr.obs)
            state = agent.update(state, tr)
        return state

    after = {name: play(agent, episode_1) for name, agent in (("frozen", frozen), ("growing", growing))}
    query = jnp.array([1, 2])
    h = jax.tree.map(lambda *x: jnp.stack(x), *episode_1)
    tokens = spec.tokens(h, jnp.concatenate([h.obs, query[None]]))  # the three steps, then the query
    np.testing.assert_allclose(frozen.action_logits(after["frozen"], query), model.apply(params, tokens[None])[0, -1], atol=1e-5)
    moves = {"a": [step([2, 2], 3, 0.0, [1, 2], False)], "b": [step([2, 2], 0, 0.0, [2, 3], False), step([2, 3], 3, 0.0, [1, 3], False)]}
    for name, agent in (("frozen", frozen), ("growing", growing)):
        logits = []
        for tail in moves.values():
            state = after[name]
            for tr in tail:
                _, state = agent.act(jax.random.PRNGKey(0), state, tr.obs)
                state = agent.update(state, tr)
            logits.append(agent.action_logits(state, query))
        if name == "frozen":
            np.testing.assert_allclose(logits[0], logits[1], atol=1e-6)
            np.testing.assert_allclose(logits[0], frozen.action_logits(after["frozen"], query), atol=1e-6)
        else:
            assert float(jnp.abs(logits[0] - logits[1]).max()) > 1e-4


_GRID_DPT_ENV = envs.make("darkroom", size=5, horizon=25)[0]


@functools.lru_cache(maxsize=1)
def _grid_dpt_data(env):
    return make_dpt_dataset(env, jax.random.PRNGKey(0), 4000, 3 * env.horizon, collector="psrl", labels="collector")


def _grid_dpt_returns(train_steps):
    """A tiny Dark Room DPT whose labels are drawn as PSRL draws them (5x5, 25-step episodes),
    rolled out for 3 episodes on every held-out goal; returns (model, random) returns per episode."""
    env = _GRID_DPT_ENV
    spec = TokenSpec.for_env(env)
    data = _grid_dpt_data(env)  # made once for the trained and the untrained model
    model = Transformer(spec.token_dim, spec.num_actions, max_len=3 * env.horizon + 1, num_layers=2, num_heads=2, width=32)
    cfg = TrainConfig(train_steps=train_steps, batch_size=32, learning_rate=3e-3, warmup_steps=min(10, train_steps - 1), num_devices=1)
    params, _ = train(model, DPTObjective(spec), data, cfg, progress=False)
    tasks = jax.tree.map(lambda x: jnp.concatenate([x] * 40), env.task_pool("test"))

    def returns(agent):
        return np.asarray(episode_returns(rollout(env, agent, tasks, jax.random.PRNGKey(7), num_episodes=3), env.horizon))

    return returns(ModelAgent(params, model, spec)), returns(make_agent("random", env))


def _learns_in_context(dpt, rand) -> bool:
    """Paired over held-out rollouts: the last episode beats the first and beats random."""
    ok = True
    for diff, bound in ((dpt[:, -1] - dpt[:, 0], 2.0), (dpt[:, -1] - rand[:, -1], 5.0)):
        ok &= diff.mean() - 1.96 * diff.std(ddof=1) / np.sqrt(len(diff)) > bound
    return bool(ok)


def test_grid_dpt_with_posterior_sampled_labels_learns_in_context_and_fails_untrained():
    dpt, rand = _grid_dpt_returns(200)  # bounds 3.8 and 14.5 (3.6 and 15.0 at 300 steps)
    assert _learns_in_context(dpt, rand), (dpt.mean(0), rand.mean(0))
    assert not _learns_in_context(*_grid_dpt_returns(2))
