import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from icrl import History
from icrl.models import S5, TokenSpec, Transformer, make_model
from icrl.models.s5 import S5SSM, hippo_normal_eigs

TOKEN_DIM, OUT = 6, 4
BACKBONES = {
    # rotary positions behind an MLP token embedding (the main job's model)
    "transformer": lambda: Transformer(TOKEN_DIM, OUT, max_len=96, num_layers=2, num_heads=2, width=32, position_encoding="rotary",
                                       embedding="mlp"),
    "transformer-alibi": lambda: Transformer(TOKEN_DIM, OUT, max_len=96, num_layers=2, num_heads=2, width=32, position_encoding="alibi"),
    "transformer-learned": lambda: Transformer(TOKEN_DIM, OUT, max_len=96, num_layers=2, num_heads=2, width=32, position_encoding="learned"),
    # the last outputs from a head of their own behind a stop_gradient (DICP's next-state head)
    "transformer-detached": lambda: Transformer(TOKEN_DIM, OUT, max_len=96, num_layers=2, num_heads=2, width=32,
                                                position_encoding="alibi", detach_from=1),
    # the outputs a 2 x 2 grid's logits through its cosines (Bayesian optimisation's smooth head)
    "transformer-grid": lambda: Transformer(TOKEN_DIM, OUT, max_len=96, num_layers=2, num_heads=2, width=32,
                                            position_encoding="alibi", output_basis=2),
    "s5": lambda: S5(TOKEN_DIM, OUT, num_layers=2, width=32, state_size=16),
    # the recurrence one step at a time over a sequence (meta-RL's update on CPU)
    "s5-sequential": lambda: S5(TOKEN_DIM, OUT, num_layers=2, width=32, state_size=16, scan="sequential"),
    "gru": lambda: make_model("gru", TOKEN_DIM, OUT, num_layers=2, width=32),
    "mlp": lambda: make_model("mlp", TOKEN_DIM, OUT, num_layers=2, width=32),
}


def _inputs(batch=2, time=80, p_reset=0.0, seed=0):
    k1, k2 = jax.random.split(jax.random.PRNGKey(seed))
    tokens = jax.random.normal(k1, (batch, time, TOKEN_DIM))
    resets = jax.random.bernoulli(k2, p_reset, (batch, time))
    return tokens, resets


def _stepwise(model, params, tokens, resets):
    def body(carry, x):
        return model.apply(params, carry, x[0], x[1], method="step")

    _, outs = jax.lax.scan(body, model.init_carry(tokens.shape[0]), (tokens.swapaxes(0, 1), resets.swapaxes(0, 1)))
    return outs.swapaxes(0, 1)


@pytest.mark.parametrize("name", sorted(BACKBONES))
@pytest.mark.parametrize("p_reset", [0.0, 0.05])
def test_parallel_equals_step_by_step(name, p_reset):
    model = BACKBONES[name]()
    tokens, resets = _inputs(time=80, p_reset=p_reset)
    params = model.init(jax.random.PRNGKey(1), tokens[:, :4], resets[:, :4])
    parallel = jax.jit(model.apply)(params, tokens, resets)
    chex.assert_shape(parallel, (2, 80, OUT))
    np.testing.assert_allclose(parallel, _stepwise(model, params, tokens, resets), atol=1e-5)


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_reset_forgets_everything_before_it(name):
    model = BACKBONES[name]()
    tokens, _ = _inputs(time=70)
    resets = jnp.zeros((2, 70), bool).at[:, 40].set(True)
    params = model.init(jax.random.PRNGKey(1), tokens[:, :4], resets[:, :4])
    perturbed = tokens.at[:, :40].add(jax.random.normal(jax.random.PRNGKey(9), (2, 40, TOKEN_DIM)))
    apply = jax.jit(model.apply)
    a, b = apply(params, tokens, resets), apply(params, perturbed, resets)
    np.testing.assert_allclose(a[:, 40:], b[:, 40:], atol=1e-6)
    assert float(jnp.abs(a[:, :40] - b[:, :40]).min()) > 0  # earlier outputs did see the change
    # and the step face agrees
    sa, sb = _stepwise(model, params, tokens, resets), _stepwise(model, params, perturbed, resets)
    np.testing.assert_allclose(sa[:, 40:], sb[:, 40:], atol=1e-6)


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_causal(name):
    model = BACKBONES[name]()
    tokens, resets = _inputs(time=64)
    params = model.init(jax.random.PRNGKey(1), tokens[:, :4], resets[:, :4])
    apply = jax.jit(model.apply)
    base = apply(params, tokens, resets)
    for t in [0, 17, 63]:
        changed = apply(params, tokens.at[:, t].add(3.0), resets)
        np.testing.assert_array_equal(changed[:, :t], base[:, :t])
        assert float(jnp.abs(changed[:, t] - base[:, t]).max()) > 1e-4


@pytest.mark.parametrize("scan", ["associative", "sequential"])
def test_s5_scan_equals_sequential_recurrence(scan):
    ssm = S5SSM(width=8, state_size=16, scan=scan)
    u = jax.random.normal(jax.random.PRNGKey(0), (3, 50, 8))
    resets = jax.random.bernoulli(jax.random.PRNGKey(1), 0.1, (3, 50))
    params = jax.jit(ssm.init)(jax.random.PRNGKey(2), u, resets)
    lam_bar, b_bar = jax.jit(lambda p: ssm.apply(p, method="discretized"))(params)
    lam_bar, b_bar = np.asarray(lam_bar, np.complex128), np.asarray(b_bar, np.complex128)
    c = np.asarray(params["params"]["c"], np.float64)
    c = c[..., 0] + 1j * c[..., 1]
    d = np.asarray(params["params"]["d"], np.float64)
    u64, r = np.asarray(u, np.float64), np.asarray(resets)
    expected = np.zeros((3, 50, 8))
    for b in range(3):
        x = np.zeros(8, np.complex128)
        for t in range(50):
            x = (0 if r[b, t] else lam_bar * x) + b_bar @ u64[b, t]
            expected[b, t] = 2 * (c @ x).real + d * u64[b, t]
    np.testing.assert_allclose(jax.jit(ssm.apply)(params, u, resets), expected, atol=1e-5)


def test_s5_scans_give_the_same_outputs_and_gradients():
    tokens, resets = _inputs(batch=3, time=80, p_reset=0.05)
    models = {scan: S5(TOKEN_DIM, OUT, num_layers=2, width=32, state_size=16, scan=scan) for scan in ("associative", "sequential")}
    params = jax.jit(models["associative"].init)(jax.random.PRNGKey(1), tokens[:, :4], resets[:, :4])
    got = {scan: jax.jit(jax.value_and_grad(lambda p, m=m: jnp.mean(m.apply(p, tokens, resets) ** 3)))(params)
           for scan, m in models.items()}
    chex.assert_trees_all_close(got["associative"], got["sequential"], atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="scan must be one of .*'parallel'"):
        S5(TOKEN_DIM, OUT, scan="parallel").init(jax.random.PRNGKey(0), tokens[:, :2], resets[:, :2])


def test_gru_is_flax_gru_cell_step_by_step():
    """The stack's recurrence (input maps at once, state maps fused) is nn.GRUCell on its own parameters."""
    import flax.linen as nn

    model = make_model("gru", TOKEN_DIM, OUT, num_layers=1, width=16)
    tokens, resets = _inputs(batch=3, time=40, p_reset=0.1)
    params = jax.jit(model.init)(jax.random.PRNGKey(1), tokens[:, :4], resets[:, :4])["params"]
    block, cell = params["blocks_0"], nn.GRUCell(16)
    assert set(block["rnn"]["cell"]) == {"ir", "iz", "in", "hr", "hz", "hn"}
    x = tokens @ params["embed"]["kernel"] + params["embed"]["bias"]
    normed = nn.LayerNorm().apply({"params": block["norm"]}, x)
    h, outs = jnp.zeros((3, 16)), []
    for t in range(40):
        h = jnp.where(resets[:, t, None], 0.0, h)
        h, _ = cell.apply({"params": block["rnn"]["cell"]}, h, normed[:, t])
        outs.append(x[:, t] + h)
    head = nn.LayerNorm().apply({"params": params["ln_out"]}, jnp.stack(outs, 1))
    expected = head @ params["head"]["kernel"] + params["head"]["bias"]
    np.testing.assert_allclose(jax.jit(model.apply)({"params": params}, tokens, resets), expected, atol=1e-5)


def test_hippo_initialisation_diagonalises_normal_legs():
    eigs, vecs = hippo_normal_eigs(8)
    np.testing.assert_allclose(eigs.real, -0.5)
    assert eigs.shape == (4,) and (eigs.imag > 0).all()
    n = np.arange(8)
    normal = -(np.tril(np.outer(np.sqrt(2 * n + 1), np.sqrt(2 * n + 1))) - np.diag(n)) + np.outer(np.sqrt(n + 0.5), np.sqrt(n + 0.5))
    # the kept half and its conjugate reconstruct the real normal matrix
    full = vecs @ np.diag(eigs) @ vecs.conj().T
    np.testing.assert_allclose(full + full.conj(), normal, atol=1e-8)


def test_s5_gradients_finite_on_long_sequence():
    model = S5(TOKEN_DIM, OUT, num_layers=2, width=32, state_size=16)
    tokens, resets = _inputs(batch=1, time=1500, p_reset=0.002)
    params = jax.jit(model.init)(jax.random.PRNGKey(1), tokens[:, :4], resets[:, :4])
    grads = jax.jit(jax.grad(lambda p: jnp.mean(model.apply(p, tokens, resets) ** 2)))(params)
    leaves = jax.tree.leaves(grads)
    assert all(bool(jnp.isfinite(g).all()) for g in leaves)
    assert any(float(jnp.abs(g).max()) > 0 for g in leaves)


def test_transformer_cache_matches_recompute_and_guards_context():
    model = Transformer(TOKEN_DIM, OUT, max_len=16, num_layers=1, num_heads=2, width=16, position_encoding="learned")
    tokens, resets = _inputs(batch=1, time=16)
    params = model.init(jax.random.PRNGKey(0), tokens[:, :4], resets[:, :4])
    steps = _stepwise(model, params, tokens, resets)
    for t in [1, 7, 16]:
        ref = jax.jit(lambda x, r: model.apply(params, x, r, method="step_without_cache"))(tokens[:, :t], resets[:, :t])
        np.testing.assert_allclose(steps[:, t - 1], ref, atol=1e-5)
    with pytest.raises(ValueError, match="17 steps.*max_len=16"):
        model.apply(params, jnp.zeros((1, 17, TOKEN_DIM)))
    with pytest.raises(ValueError, match="token_dim=6"):
        model.apply(params, jnp.zeros((1, 4, 5)))
    step = jax.jit(lambda c, x: model.apply(params, c, x, None, method="step"))
    carry = model.init_carry(1)
    for t in range(17):
        carry, out = step(carry, tokens[:, t % 16])
    assert bool(jnp.isnan(out).all())  # past the learned positions: loud, never a silent wrong answer


@pytest.mark.parametrize("encoding", ["rotary", "alibi"])
@pytest.mark.parametrize("p_reset", [0.0, 0.03])
def test_relative_window_slides_past_max_len(encoding, p_reset):
    """A transformer with relative positions: its step face (ring-buffer cache of max_len steps)
    equals its parallel face, whose attention covers the same sliding window, over a sequence 3x
    longer than max_len; with one layer it equals recomputing the last max_len tokens from scratch."""
    tokens, resets = _inputs(batch=2, time=60, p_reset=p_reset, seed=3)
    for layers in (1, 2):
        model = Transformer(TOKEN_DIM, OUT, max_len=20, num_layers=layers, num_heads=2, width=16, position_encoding=encoding)
        params = model.init(jax.random.PRNGKey(0), tokens[:, :4], resets[:, :4])
        steps = _stepwise(model, params, tokens, resets)
        np.testing.assert_allclose(steps, jax.jit(model.apply)(params, tokens, resets), atol=2e-5)
        if layers == 1 and p_reset == 0.0:
            recompute = jax.jit(lambda x: model.apply(params, x, method="step_without_cache"))
            for t in (20, 21, 37, 60):  # only the last max_len tokens, their positions restarting at 0
                np.testing.assert_allclose(steps[:, t - 1], recompute(tokens[:, t - 20 : t]), atol=2e-5)
    # the window really drops what lies more than max_len steps back (one layer: exactly)
    model = Transformer(TOKEN_DIM, OUT, max_len=20, num_layers=1, num_heads=2, width=16, position_encoding=encoding)
    params = model.init(jax.random.PRNGKey(0), tokens[:, :4])
    apply = jax.jit(model.apply)
    perturbed = tokens.at[:, :10].add(5.0)
    np.testing.assert_allclose(apply(params, tokens)[:, 29:], apply(params, perturbed)[:, 29:], atol=1e-6)
    assert float(jnp.abs(apply(params, tokens)[:, 28] - apply(params, perturbed)[:, 28]).max()) > 1e-4


def test_make_model_errors():
    with pytest.raises(ValueError, match="unknown backbone 'lstm'"):
        make_model("lstm", 4, 2)
    with pytest.raises(ValueError, match="bad arguments"):
        make_model("s5", 4, 2, heads=3)
    with pytest.raises(ValueError, match="divisible"):
        m = make_model("transformer", 4, 2, max_len=8, width=30, num_heads=4)
        m.init(jax.random.PRNGKey(0), jnp.zeros((1, 3, 4)))


def test_tokens_hold_previous_transition():
    env, _ = envs.make("darkroom", size=4, horizon=5)
    spec = TokenSpec.for_env(env)
    assert spec.obs_dim == 10 and spec.token_dim == 10 + 2 * 10 + 5 + 3
    obs = jnp.array([[0, 0], [1, 0], [1, 1]])
    nxt = jnp.array([[1, 0], [1, 1], [1, 2]])
    action, reward = jnp.array([2, 0, 0]), jnp.array([0.0, 0.0, 1.0])
    tokens = spec.tokens(History(obs, action, reward, nxt, jnp.zeros(3, bool)))
    chex.assert_shape(tokens, (3, spec.token_dim))
    np.testing.assert_array_equal(tokens[0, 10:], 0.0)  # nothing before the first step
    np.testing.assert_array_equal(tokens[2, :10], env.obs_features(obs[2]))  # query
    np.testing.assert_allclose(env.obs_features(obs[2])[8:], [1 / 3, 1 / 3])  # scaled coordinates of (1, 1)
    np.testing.assert_array_equal(tokens[2, 10:], spec.transition(obs[1], action[1], reward[1], nxt[1]))
    full = spec.tokens(History(obs, action, reward, nxt, jnp.zeros(3, bool)), jnp.concatenate([obs, nxt[-1:]]))
    chex.assert_shape(full, (4, spec.token_dim))  # one more query: after the whole history (DPT's last label)
    np.testing.assert_array_equal(full[:3], tokens)
    np.testing.assert_array_equal(full[3, 10:], spec.transition(obs[2], action[2], reward[2], nxt[2]))
    with pytest.raises(ValueError, match="5 queries for a history of 3 steps"):
        spec.tokens(History(obs, action, reward, nxt, jnp.zeros(3, bool)), jnp.zeros((5, 2), jnp.int32))
    bandit, _ = envs.make("bernoulli-bandit", num_arms=3)
    assert TokenSpec.for_env(bandit).token_dim == 1 + 2 + 3 + 3


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_gradients_at_init_stay_moderate_on_all_zero_tokens(name):
    """A bandit's first token is all zeros; its embedding must not be the zero vector, whose
    LayerNorm divides by sqrt(eps) and gave gradients of 1e11 at initialisation."""
    model = BACKBONES[name]()
    tokens = jnp.zeros((2, 8, TOKEN_DIM)).at[:, 1:].set(jax.random.normal(jax.random.PRNGKey(0), (2, 7, TOKEN_DIM)))
    params = jax.jit(model.init)(jax.random.PRNGKey(1), tokens)
    grads = jax.jit(jax.grad(lambda p: jnp.mean(jax.nn.log_softmax(model.apply(p, tokens))[..., 0])))(params)
    assert max(float(jnp.abs(g).max()) for g in jax.tree.leaves(grads)) < 100


def test_einsum_attention_with_alibi_equals_jax_dot_product_attention():
    """Our attention (scores laid out for two batched products, ALiBi's bias added) and
    ``jax.nn.dot_product_attention`` given the same bias and mask: equal outputs and gradients,
    ALiBi's slopes included, with resets (a per-row mask)."""
    keys = jax.random.split(jax.random.PRNGKey(5), 3)
    tokens = jax.random.normal(keys[0], (3, 30, 6))
    resets = jax.random.uniform(keys[1], (3, 30)) < 0.1
    ours = Transformer(6, 3, max_len=32, num_layers=2, num_heads=2, width=16, position_encoding="alibi")
    reference = Transformer(6, 3, max_len=32, num_layers=2, num_heads=2, width=16, position_encoding="alibi", attention="jax")
    params = jax.jit(ours.init)(keys[2], tokens, resets)  # compiled whole: op by op, every operation compiles on its own

    def value_and_grad(model):
        return jax.jit(jax.value_and_grad(lambda p: (model.apply(p, tokens, resets) ** 2).sum()))(params)

    (loss, grads), (ref_loss, ref_grads) = value_and_grad(ours), value_and_grad(reference)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-5)
    chex.assert_trees_all_close(grads, ref_grads, atol=1e-4, rtol=1e-4)
    assert float(jnp.abs(grads["params"]["blocks_0"]["alibi_slopes"]).min()) > 1e-3  # the slopes do get a gradient


@pytest.mark.parametrize("encoding", ["alibi", "rotary"])
def test_attention_in_blocks_of_queries_equals_whole(monkeypatch, encoding):
    """A long sequence attends in blocks of queries, each against the keys up to its last query (the
    last block shorter): outputs and parameter gradients equal whole attention's, with resets (a
    per-row mask) and a position bias."""
    from icrl.models import transformer

    model = Transformer(6, 3, max_len=24, num_layers=2, num_heads=2, width=16, position_encoding=encoding)
    keys = jax.random.split(jax.random.PRNGKey(3), 3)
    tokens = jax.random.normal(keys[0], (2, 45, 6))
    resets = jax.random.uniform(keys[1], (2, 45)) < 0.05
    params = jax.jit(model.init)(keys[2], tokens, resets)

    def outputs_and_grads(p):  # traced afresh by each jit below, so each sees the QUERY_CHUNK of its time
        return model.apply(p, tokens, resets), jax.grad(lambda q: (model.apply(q, tokens, resets) ** 2).sum())(p)

    whole = jax.jit(lambda p: outputs_and_grads(p))(params)
    monkeypatch.setattr(transformer, "QUERY_CHUNK", 8)  # 45 steps > 2 x 8: six blocks of 8 queries, the last of 5
    chex.assert_trees_all_close(jax.jit(lambda p: outputs_and_grads(p))(params), whole, atol=1e-4, rtol=1e-4)
    blocked = str(jax.make_jaxpr(lambda p: model.apply(p, tokens, resets))(params))
    assert "f32[2,2,45,45]" not in blocked  # no whole (time x time) scores
    assert "f32[2,2,8,8]" in blocked and "f32[2,2,8,16]" in blocked and "f32[2,2,5,45]" in blocked  # keys up to each block's end


@pytest.mark.parametrize("backbone", ["s5", "transformer"])
def test_windowed_context_acts_on_its_last_restart_only(backbone):
    """A model agent with state_window=4 steps, after 9 steps: its older context (recurrent state or
    key-value cache) restarted at step 6 (restarts of the second at 2, 6, …), so the next logits
    equal the model run from scratch over steps 6-8 and the current observation, the first token
    without a previous transition."""
    from icrl.agents.model import ModelAgent
    from icrl.rollout import rollout_task

    env, _ = envs.make("darkroom", size=5, horizon=10)
    spec = TokenSpec.for_env(env)
    model = (S5(spec.token_dim, spec.num_actions, num_layers=2, width=16, state_size=8) if backbone == "s5" else
             Transformer(spec.token_dim, spec.num_actions, max_len=6, num_layers=2, num_heads=2, width=16,
                         position_encoding="rotary"))
    params = jax.jit(model.init)(jax.random.PRNGKey(0), jnp.zeros((1, 2, spec.token_dim)))
    agent = ModelAgent(params, model, spec, state_window=4)
    task = jax.tree.map(lambda x: x[0], env.sample_tasks(jax.random.PRNGKey(1), 1))
    history, state = rollout_task(env, agent, task, jax.random.PRNGKey(2), 9, return_agent_state=True)
    obs = history.next_obs[8]
    recent = jax.tree.map(lambda x: x[6:9], history._replace(regret=None, info=None))
    tokens = spec.tokens(recent, jnp.concatenate([recent.obs, obs[None]]))
    apply = jax.jit(model.apply)  # one program, not every operation of the S5 scan dispatched alone
    np.testing.assert_allclose(agent.action_logits(state, obs), apply(params, tokens[None])[0, -1], rtol=1e-4, atol=1e-5)
    everything = spec.tokens(history._replace(regret=None, info=None), jnp.concatenate([history.obs, obs[None]]))
    assert not np.allclose(apply(params, everything[None])[0, -1], agent.action_logits(state, obs), atol=1e-4)
    with pytest.raises(ValueError, match="state_window"):
        ModelAgent(params, model, spec, state_window=3)
    from train.configs import config_for, replace

    with pytest.raises(ValueError, match="deploy_window"):
        replace(config_for("darkroom9-ad"), backbone="mlp", deploy_window=10)  # one step has no window
    assert config_for("darkroom9-ad-s5").deploy_window == 10


def test_window_longer_than_learned_positions_is_refused():
    """A transformer with learned positions takes a window of at most max_len steps, and with one
    runs past max_len (each window starts at position 0)."""
    from icrl.agents.model import ModelAgent

    env, _ = envs.make("darkroom", size=5, horizon=10)
    spec = TokenSpec.for_env(env)
    model = Transformer(spec.token_dim, spec.num_actions, max_len=6, num_layers=1, num_heads=2, width=16,
                        position_encoding="learned")
    params = jax.jit(model.init)(jax.random.PRNGKey(0), jnp.zeros((1, 2, spec.token_dim)))
    with pytest.raises(ValueError, match="state_window=8 steps is longer than the model's context"):
        ModelAgent(params, model, spec, state_window=8).check_num_steps(20)
    with pytest.raises(ValueError, match="longer than the model's context"):
        ModelAgent(params, model, spec).check_num_steps(20)
    ModelAgent(params, model, spec, state_window=6).check_num_steps(20)


def test_mlp_output_sees_its_own_token_alone():
    """The memoryless baseline: a change at step t moves output t and no other, in both faces."""
    model = BACKBONES["mlp"]()
    tokens, resets = _inputs(time=20)
    params = model.init(jax.random.PRNGKey(1), tokens[:, :4], resets[:, :4])
    base, changed = (jax.jit(model.apply)(params, x, resets) for x in (tokens, tokens.at[:, 7].add(3.0)))
    moved = jnp.abs(changed - base).max(axis=(0, 2))
    assert float(moved[7]) > 1e-4 and float(jnp.delete(moved, 7).max()) == 0
    np.testing.assert_allclose(_stepwise(model, params, tokens, resets), base, atol=1e-6)
    assert model.init_carry(2) == ()
