"""T2MIR's mixture-of-experts layers: routing, balance, contrastive loss, and the two faces of the model."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from icrl.models import Transformer, moe as moe_module
from icrl.models.moe import (
    GLUExperts,
    MoE,
    NoisyTopKGate,
    T2MIRFeedForward,
    contrastive_loss,
    cv_squared,
    every_expert,
    routing_weights,
)


def test_top_k_routing_sends_every_token_to_exactly_k_experts():
    x = jax.random.normal(jax.random.PRNGKey(0), (4, 50, 16))
    gate = NoisyTopKGate(num_experts=6, num_selects=2)
    params = gate.init({"params": jax.random.PRNGKey(1), "dropout": jax.random.PRNGKey(2)}, x)
    for deterministic in (True, False):
        weights, balance, probs = gate.apply(params, x, deterministic, rngs={"dropout": jax.random.PRNGKey(3)})
        np.testing.assert_array_equal((np.asarray(weights) > 0).sum(-1), 2)
        np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-5)
        np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)
        assert float(balance) >= 0


def test_balance_loss_is_minimal_for_uniform_load():
    assert float(cv_squared(jnp.full(6, 3.0))) == 0.0
    assert float(cv_squared(jnp.array([6.0, 0, 0, 0, 0, 0]))) > float(cv_squared(jnp.array([2.0, 1, 1, 1, 1, 0]))) > 0
    # a gate whose logits are equal for every expert spreads uniformly and its balance loss vanishes
    gate = NoisyTopKGate(num_experts=4, num_selects=4)
    params = gate.init(jax.random.PRNGKey(0), jnp.ones((8, 4)))
    params = jax.tree.map(jnp.zeros_like, params)
    _, balance, _ = gate.apply(params, jax.random.normal(jax.random.PRNGKey(1), (8, 4)))
    assert float(balance) < 1e-6


def test_experts_combine_with_the_gate_weights():
    """The MoE output is the gate-weighted sum of the chosen experts' outputs, computed by hand."""
    moe = MoE(num_experts=5, num_selects=2, hidden=8, out=3)
    x = jax.random.normal(jax.random.PRNGKey(0), (7, 12))
    params = moe.init(jax.random.PRNGKey(1), x)
    out, _, _, weights = moe.apply(params, x)
    p = params["params"]["experts"]
    for i in range(7):
        expected = np.zeros(3)
        for e in np.flatnonzero(np.asarray(weights[i])):
            h = x[i] @ p["w_in"][e] + p["b_in"][e]
            a, g = np.split(np.asarray(h), 2)
            expected += float(weights[i, e]) * (np.asarray(jax.nn.gelu(a) * jax.nn.sigmoid(g)) @ p["w_out"][e] + p["b_out"][e])
        np.testing.assert_allclose(out[i], expected, atol=1e-5)


@pytest.mark.parametrize("shape, group_tokens, skew", [
    ((4, 40, 12), 2048, False),  # one group of 160 tokens, tiles of 16 pairs
    ((4, 40, 12), 80, False),  # two groups of two rows side by side, tiles of 8
    ((4, 40, 12), 80, True),  # most pairs on the first experts, the last chosen by none
    ((100, 12), 2048, True),  # tokens without a time axis: one group
    ((3, 5, 12), 2048, False),  # too few pairs to tile: the definition's path
])
def test_experts_computed_for_the_chosen_only_equal_every_expert_weighted_by_the_gate_in_value_and_gradient(
        monkeypatch, shape, group_tokens, skew):
    """Only the chosen experts are evaluated, on pairs sorted by expert into tiles; the layer's output and
    its gradients (parameters, input, and the gate weights of the chosen experts) equal evaluating every expert."""
    monkeypatch.setattr(moe_module, "GROUP_TOKENS", group_tokens)
    experts = GLUExperts(num_experts=6, hidden=8, out=3, num_selects=2)
    x = jax.random.normal(jax.random.PRNGKey(0), shape)
    logits = jax.random.normal(jax.random.PRNGKey(1), shape[:-1] + (6,)) + (jnp.arange(6.0)[::-1] * 2 if skew else 0)
    chosen = logits >= jax.lax.top_k(logits, 2)[0][..., 1:2]
    params = jax.jit(experts.init)(jax.random.PRNGKey(2), x, jnp.ones(shape[:-1] + (6,)) / 6)

    def reference(params, x, logits):
        return every_expert(params["params"], x, routing_weights(logits, chosen))

    def routed(params, x, logits):
        return experts.apply(params, x, routing_weights(logits, chosen))

    np.testing.assert_allclose(jax.jit(routed)(params, x, logits), jax.jit(reference)(params, x, logits), atol=1e-5)
    loss = lambda f: lambda *a: jnp.sum(jnp.sin(f(*a)))  # noqa: E731
    got = jax.jit(jax.grad(loss(routed), argnums=(0, 1, 2)))(params, x, logits)
    want = jax.jit(jax.grad(loss(reference), argnums=(0, 1, 2)))(params, x, logits)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        np.testing.assert_allclose(g, w, atol=1e-5)


def test_tile_sizes_keep_padding_within_half_the_pairs():
    """The tile is the largest power of two up to 128 whose one part-empty tile per expert pads at most half the
    pairs; a group too small for tiles of 8 is left to the definition (0)."""
    assert moe_module._tile_size(3200, 12) == 128  # darkroom9-ad-t2mir: 8 rows of 200 steps, top 2
    assert moe_module._tile_size(3200, 6) == 128
    assert moe_module._tile_size(320, 6) == 16
    assert moe_module._tile_size(30, 6) == 0


def test_contrastive_loss_rewards_routing_that_tells_tasks_apart():
    w = jnp.eye(4) * 5.0
    same = jnp.repeat(jax.nn.one_hot(jnp.arange(4), 4), 2, axis=0)  # rows 2i and 2i+1 route alike, tasks differ
    mixed = same[jnp.array([0, 2, 1, 3, 4, 6, 5, 7])]  # partners no longer alike
    assert float(contrastive_loss(same, w)) < float(contrastive_loss(mixed, w)) - 1.0


def test_t2mir_transformer_parallel_equals_step_and_sows_its_losses():
    model = Transformer(6, 4, max_len=40, num_layers=2, num_heads=2, width=16, ffn="t2mir", expert_hidden=8)
    tokens = jax.random.normal(jax.random.PRNGKey(0), (4, 30, 6))  # enough tokens to tile both mixtures; a step has too few
    assert moe_module._tile_size(4 * 30 * 2, 12) and not moe_module._tile_size(4 * 2, 6)
    params = jax.jit(model.init)(jax.random.PRNGKey(1), tokens[:, :3])
    parallel = jax.jit(model.apply)(params, tokens)

    def body(carry, x):
        return model.apply(params, carry, x, None, method="step")

    _, steps = jax.jit(lambda c, x: jax.lax.scan(body, c, x))(model.init_carry(4), tokens.swapaxes(0, 1))
    np.testing.assert_allclose(parallel, steps.swapaxes(0, 1), atol=1e-5)
    _, sown = jax.jit(lambda p: model.apply(p, tokens, None, deterministic=False, paired=True, rngs={"dropout": jax.random.PRNGKey(2)},
                                            mutable=["moe"]))(params)
    ffn = sown["moe"]["blocks_1"]["ffn"]
    assert ffn["task_router"][0].shape == (4, 12) and float(ffn["balance"][0]) >= 0 and np.isfinite(float(ffn["contrastive"][0]))
    assert "blocks_0" not in sown["moe"]  # T2MIR's layer replaces the last block's feed-forward only


def test_trainer_keeps_only_parameters_of_a_t2mir_model():
    """What init sows (balance, routing) is not a parameter: it must not reach the optimizer, the
    checkpoints or the loss (sown values would accumulate beside each step's own)."""
    from icrl.checkpoints import abstract_params
    from icrl.models import TokenSpec
    from icrl.training import TrainConfig, Trainer
    from train.methods.dpt.objective import DPTObjective

    model = Transformer(6, 4, max_len=8, num_layers=1, num_heads=2, width=16, ffn="t2mir", expert_hidden=8)
    state = Trainer(model, DPTObjective(TokenSpec(2, 4)), TrainConfig(batch_size=2, num_devices=1)).init_state()
    assert set(state.params) == {"params"} and set(abstract_params(model)) == {"params"}


def test_contrastive_loss_on_several_pairs_is_positive_and_leaves_same_task_rows_out_of_the_negatives():
    """On 4 pairs the loss is > 0 (one pair alone gives exactly 0: no negatives). Given each row's
    task, a row of another history of the same task is no negative: with pairs 0 and 1 from one
    goal and their routers alike, the loss without the mask counts each as the other's rival; the
    masked loss equals the loss over the remaining rivals, computed by hand."""
    w = jnp.eye(4) * 3.0
    reps = jnp.repeat(jax.nn.one_hot(jnp.array([0, 0, 1, 2]), 4), 2, axis=0)  # pairs 0 and 1 route alike
    assert float(contrastive_loss(reps[:2], w)) == 0.0  # one pair: nothing to tell apart
    plain = float(contrastive_loss(reps, w))
    tasks = jnp.repeat(jnp.array([[7.0], [7.0], [1.0], [2.0]]), 2, axis=0)  # pairs 0, 1: one goal
    masked = float(contrastive_loss(reps, w, tasks))
    assert plain > 0 and masked < plain - 0.3
    # by hand: pair 0's row faces its partner (score 3) and pairs 2, 3 (score 0), pair 1 left out
    by_hand = np.array([-np.log(np.exp(3) / (np.exp(3) + 2))] * 2 + [-np.log(np.exp(3) / (np.exp(3) + 3))] * 2)
    np.testing.assert_allclose(masked, by_hand.mean(), rtol=1e-5)
    # distinct tasks: the mask changes nothing
    distinct = jnp.repeat(jnp.arange(4.0)[:, None], 2, axis=0)
    np.testing.assert_allclose(float(contrastive_loss(reps, w, distinct)), plain, rtol=1e-6)


def test_t2mir_trains_the_same_step_whatever_the_microbatches():
    """The balance and contrastive losses are functions of the whole batch, so a T2MIR model trains
    in one piece whatever ``microbatches`` asks: the step's loss and gradients equal the one-piece
    step's (with microbatches they would be other losses: a contrastive batch of 2 pairs, not 8),
    on two devices; and the contrastive loss is in the loss (it moves the bilinear form)."""
    import pytest

    import envs
    from icrl.models import TokenSpec
    from icrl.training import TrainConfig, Trainer
    from train.methods.ad.data import make_ad_dataset
    from train.methods.ad.objective import ADObjective

    env, _ = envs.make("darkroom", size=4, horizon=6)
    spec = TokenSpec.for_env(env)
    data = make_ad_dataset(env, jax.random.PRNGKey(0), 16, 4, source="psrl")
    model = Transformer(spec.token_dim, env.num_actions, max_len=12, num_layers=1, num_heads=2, width=16, ffn="t2mir", expert_hidden=8)
    objective = ADObjective(spec, env.horizon, 2, paired=True)
    figures = []
    for parts in (1, 4):
        cfg = TrainConfig(batch_size=16, num_devices=2, microbatches=parts)
        if parts > 1:
            with pytest.warns(UserWarning, match="trains in one piece"):
                trainer = Trainer(model, objective, cfg)
        else:
            trainer = Trainer(model, objective, cfg)
        state = trainer.init_state()
        figures.append(jax.device_get(trainer.loss_and_grads(state, trainer.put_data(data))))
    (loss1, grads1), (loss4, grads4) = figures
    np.testing.assert_allclose(loss4, loss1, rtol=1e-6)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), grads4, grads1)
    assert np.abs(grads1["params"]["blocks_0"]["ffn"]["contrastive_w"]).sum() > 0
