"""Meta-RL (PPO on trials, RL²-style): GAE and the clipped loss by hand, resets at task boundaries
only, the policy as an agent, and a tiny run that learns in context."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from icrl.agents import ModelAgent, make_agent
from icrl.metarl import MetaRL, PPOConfig, gae, ppo_loss, trial_resets
from icrl.models import TokenSpec, make_model
from icrl.rollout import cumulative_regret, rollout
from icrl.training import TrainConfig, train


def test_gae_by_hand():
    rewards, values = jnp.array([1.0, 0.0, 2.0]), jnp.array([0.5, 1.0, 0.2])
    adv, ret = gae(rewards, values, gamma=0.9, lam=0.8)
    # d2 = 2 - .2 = 1.8; d1 = .9 * .2 - 1 = -.82; d0 = 1 + .9 * 1 - .5 = 1.4; A_t = d_t + .72 A_{t+1}
    np.testing.assert_allclose(adv, [1.4 + 0.72 * (-0.82 + 0.72 * 1.8), -0.82 + 0.72 * 1.8, 1.8], rtol=1e-6)
    np.testing.assert_allclose(ret, adv + values, rtol=1e-6)
    # lambda = 1: the value targets are the discounted returns, whatever the values
    _, ret1 = gae(rewards[None], jnp.array([[3.0, -1.0, 7.0]]), gamma=0.9, lam=1.0)
    np.testing.assert_allclose(ret1[0], [1 + 0.9 * 1.8, 1.8, 2.0], rtol=1e-6)
    # lambda = 0: one-step TD errors; the last step does not bootstrap (the trial ends)
    adv0, _ = gae(rewards, values, gamma=0.9, lam=0.0)
    np.testing.assert_allclose(adv0, [1.4, -0.82, 1.8], rtol=1e-6)


def test_clipped_ppo_loss_by_hand():
    cfg = PPOConfig(clip_eps=0.2, value_coef=0.5, entropy_coef=0.1)
    logits = jnp.zeros((2, 2))  # pi = (1/2, 1/2)
    actions = jnp.array([0, 1])
    old_logp = jnp.log(jnp.array([0.25, 1.0]))  # ratios 2 and 1/2: both clipped
    loss, parts = ppo_loss(logits, jnp.array([0.0, 1.0]), actions, old_logp, jnp.array([3.0, -1.0]), jnp.array([1.0, 1.0]), cfg)
    # advantages normalised to (1, -1); min(2 * 1, 1.2 * 1) = 1.2; min(.5 * -1, .8 * -1) = -.8
    np.testing.assert_allclose(parts["policy"], -(1.2 - 0.8) / 2, rtol=1e-5)
    np.testing.assert_allclose(parts["value"], 0.5 * (1.0 + 0.0) / 2, rtol=1e-6)
    np.testing.assert_allclose(parts["entropy"], np.log(2), rtol=1e-6)
    np.testing.assert_allclose(loss, -0.2 + 0.5 * 0.25 - 0.1 * np.log(2), rtol=1e-5)
    assert float(parts["clip_fraction"]) == 1.0
    # inside the clip range the loss is the plain surrogate -mean(ratio * adv)
    _, near = ppo_loss(logits, jnp.zeros(2), actions, jnp.log(jnp.array([0.45, 0.55])), jnp.array([1.0, -1.0]), jnp.zeros(2), cfg)
    np.testing.assert_allclose(near["policy"], -(0.5 / 0.45 - 0.5 / 0.55) / 2, rtol=1e-5)


def test_ppo_config_refuses_bad_values():
    with pytest.raises(ValueError, match="gamma"):
        PPOConfig(gamma=1.5)
    with pytest.raises(ValueError, match="num_minibatches"):
        PPOConfig(num_minibatches=0)
    env, _ = envs.make("bernoulli-bandit", num_arms=3, horizon=10)
    objective = MetaRL(env, TokenSpec.for_env(env), 10, PPOConfig(num_minibatches=3))
    model = make_model("gru", objective.spec.token_dim, objective.num_outputs, num_layers=1, width=8)
    with pytest.raises(ValueError, match="batch_size=8 trials must split into num_minibatches=3"):
        train(model, objective, None, TrainConfig(train_steps=1, batch_size=8))
    with pytest.raises(ValueError, match="outputs"):  # a policy without a value head
        MetaRL(env, objective.spec, 10).collect(make_model("gru", objective.spec.token_dim, 3, num_layers=1, width=8),
                                                 _init(make_model("gru", objective.spec.token_dim, 3, num_layers=1, width=8), objective),
                                                 jax.random.PRNGKey(0), 2)


def _init(model, objective):
    return {"params": jax.jit(model.init)(jax.random.PRNGKey(0), jnp.zeros((1, 2, objective.spec.token_dim)))["params"]}


@pytest.mark.parametrize("backbone", ["s5", "gru"])
def test_state_resets_at_task_boundaries_only(backbone):
    """Within a trial the state carries across episode ends: the trainer's parallel pass (reset at
    the trial's first step only) gives the log-probabilities the acting agent had step by step
    across three Dark Room episodes. Between tasks it is reset: two trials laid end to end with
    the reset give each trial's own outputs, and without it the second trial's differ."""
    env, _ = envs.make("darkroom", size=4, horizon=8)
    spec = TokenSpec.for_env(env)
    objective = MetaRL(env, spec, 24)
    kw = {"state_size": 16} if backbone == "s5" else {}
    model = make_model(backbone, spec.token_dim, objective.num_outputs, num_layers=2, width=16, **kw)
    params = _init(model, objective)
    trials = objective.collect(model, params, jax.random.PRNGKey(3), 4)

    resets = np.asarray(trials.resets)
    assert resets[:, 0].all() and not resets[:, 1:].any()
    assert np.asarray(trials.tokens)[:, 8, -2].all()  # the token after the first episode's end carries done = 1, no reset

    def stepwise(tokens):
        def body(carry, token):
            return model.apply(params, carry, token, None, method="step")
        return jax.jit(lambda c, x: jax.lax.scan(body, c, x))(model.init_carry(tokens.shape[0]), tokens.swapaxes(0, 1))[1].swapaxes(0, 1)

    logp = jnp.take_along_axis(jax.nn.log_softmax(stepwise(trials.tokens)[..., :-1]), trials.actions[..., None], -1)[..., 0]
    np.testing.assert_allclose(trials.log_probs, logp, atol=1e-4)

    apply = jax.jit(model.apply)  # one program per shape, not every operation of an S5 scan dispatched alone
    both = jnp.concatenate([trials.tokens[:2], trials.tokens[2:]], axis=1)  # trial i, then trial i + 2
    with_reset = apply(params, both, jnp.concatenate([trials.resets[:2], trials.resets[2:]], axis=1))
    np.testing.assert_allclose(with_reset[:, 24:], apply(params, trials.tokens[2:], trials.resets[2:]), atol=1e-5)
    without = apply(params, both, jnp.zeros_like(both[..., 0], bool))
    assert float(jnp.abs(without[:, 24:] - with_reset[:, 24:]).max()) > 1e-3


def test_tiny_bandit_policy_beats_random_on_held_out_tasks():
    """100 updates of a tiny GRU policy on 3-arm bandits of 30 pulls: held-out regret well under
    random's; after 2 updates (the same run, evaluated on the way) it is still at random's."""
    env, _ = envs.make("bernoulli-bandit", num_arms=3, horizon=30)
    spec = TokenSpec.for_env(env)
    objective = MetaRL(env, spec, 30, PPOConfig(num_epochs=4, num_minibatches=2))
    model = make_model("gru", spec.token_dim, objective.num_outputs, num_layers=1, width=32)
    tasks = env.sample_tasks(jax.random.PRNGKey(11), 500, "test")

    def regret(agent):
        return float(cumulative_regret(rollout(env, agent, tasks, jax.random.PRNGKey(12), 30))[:, -1].mean())

    cfg = TrainConfig(train_steps=100, batch_size=64, learning_rate=3e-3, log_every=2, eval_every=2)
    _, logs = train(model, objective, None, cfg, eval_fn=lambda p: {"regret": regret(ModelAgent(p, model, spec))}, progress=False)
    random = regret(make_agent("random", env))
    untrained, learned = logs[0]["regret"], logs[-1]["regret"]
    print(f"held-out regret: 100 updates {learned:.2f}, 2 updates {untrained:.2f}, random {random:.2f}")
    assert logs[0]["step"] == 2 and logs[-1]["step"] == 100
    assert learned < 0.6 * random, (learned, random)
    assert untrained > 0.85 * random, (untrained, random)  # two updates learn nothing to speak of
    assert {"trial_return", "trial_regret", "entropy"} <= set(logs[-1])


def test_data_parallel_update_is_the_whole_minibatchs():
    """Split over two devices (shard_map), each device's loss on its half of a minibatch, with the
    advantages normalised by the whole's statistics, averages to the loss and gradient of the
    minibatch in one piece; normalising each half by its own statistics would not."""
    env, _ = envs.make("darkroom", size=4, horizon=6)
    objective = MetaRL(env, TokenSpec.for_env(env), 12)
    model = make_model("gru", objective.spec.token_dim, objective.num_outputs, num_layers=1, width=8)
    params = _init(model, objective)
    trials = objective.collect(model, params, jax.random.PRNGKey(5), 8)
    # advantages that differ in scale between the halves, so per-half normalisation would show
    trials = trials._replace(advantages=trials.advantages.at[4:].mul(5.0).at[4:].add(2.0))
    whole_fn = jax.jit(jax.value_and_grad(lambda p: objective.loss(model, p, trials)[0]))
    whole, whole_grads = whole_fn(params)
    mesh = jax.sharding.Mesh(np.asarray(jax.devices()[:2]), ("data",))
    spec, rep = jax.sharding.PartitionSpec("data"), jax.sharding.PartitionSpec()

    def shares(axis_name):
        def per_device(p, t):
            loss, grads = jax.value_and_grad(lambda q: objective.loss(model, q, t, axis_name)[0])(p)
            return jax.lax.pmean((loss, grads), "data")
        return jax.jit(jax.shard_map(per_device, mesh=mesh, in_specs=(rep, spec), out_specs=rep, check_vma=False))(params, trials)

    split, split_grads = shares("data")
    np.testing.assert_allclose(split, whole, rtol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), split_grads, whole_grads)
    _, own_grads = shares(None)  # each half normalised alone: another objective
    gap = max(float(jnp.abs(a - b).max()) for a, b in zip(jax.tree.leaves(own_grads), jax.tree.leaves(whole_grads)))
    assert gap > 1e-3, gap


def test_meta_rl_trainer_refuses_a_batch_the_devices_cannot_share():
    env, _ = envs.make("bernoulli-bandit", num_arms=3, horizon=10)
    objective = MetaRL(env, TokenSpec.for_env(env), 10, PPOConfig(num_minibatches=2))
    model = make_model("gru", objective.spec.token_dim, objective.num_outputs, num_layers=1, width=8)
    with pytest.raises(ValueError, match="batch_size=6 .* each of 2 devices .* multiple of 4"):
        objective.make_trainer(model, TrainConfig(train_steps=1, batch_size=6, num_devices=2))
    objective.make_trainer(model, TrainConfig(train_steps=1, batch_size=6, num_devices=1))  # one device takes it


def test_killed_meta_rl_run_resumes_to_the_same_parameters(tmp_path):
    """Update t's trials and minibatch order depend only on the seed and t: a run stopped after 2
    of 4 updates and resumed (another process would build another trainer) ends with the
    parameters and figures of an uninterrupted one."""
    env, _ = envs.make("bernoulli-bandit", num_arms=3, horizon=12)
    objective = MetaRL(env, TokenSpec.for_env(env), 12, PPOConfig(num_epochs=2, num_minibatches=2))
    model = make_model("gru", objective.spec.token_dim, objective.num_outputs, num_layers=1, width=8)
    cfg = TrainConfig(train_steps=4, batch_size=8, checkpoint_every=1, log_every=1)
    whole, logs = train(model, objective, None, cfg, run_dir=str(tmp_path / "a"), progress=False)
    _, first = train(model, objective, None, cfg, run_dir=str(tmp_path / "b"), progress=False, stop_after=2)
    resumed, rest = train(model, objective, None, cfg, run_dir=str(tmp_path / "b"), progress=False)
    jax.tree.map(np.testing.assert_array_equal, whole, resumed)
    assert [e["trial_return"] for e in logs] == [e["trial_return"] for e in first + rest]
    assert len({e["trial_return"] for e in logs}) > 1  # fresh trials every update
