"""Mixture-of-experts feed-forward layers after T2MIR (Mixture-of-Experts Meets In-Context RL).

T2MIR replaces a transformer block's feed-forward layer with two mixtures in
parallel whose outputs are concatenated (each gives half the width):

- a **token-wise** MoE: every token is routed to ``k`` of its experts (tokens of
  different kinds, states, actions, rewards, can take different experts), with a
  load-balancing loss;
- a **task-wise** MoE of the same form whose router is trained, by a contrastive
  loss, so that two segments of the same task pick the same experts and segments
  of different tasks differ: its routing becomes a representation of the task.

Gating is noisy top-k (Shazeer et al. 2017): ``logits + N(0, 1) · (softplus(W_noise x)
+ eps)`` while training, the clean logits otherwise; the ``k`` largest are
softmax-normalised. The balance loss is ``cv²(importance) + cv²(load)`` over the
experts, where importance sums the gate weights and load is the smooth
probability, under the noise, that each expert is among a token's top ``k``; it is
zero for a perfectly even spread. Experts are GLU networks.

Each token's ``k`` (token, expert) pairs are sorted by expert into tiles of a fixed
size, every tile holding one expert's pairs (its last tile padded with empty
slots), and each tile meets its own expert's weights in a batched product: the
experts' products are computed for the chosen pairs alone, at most
``pairs + experts · tile`` slots, with static shapes (:func:`routed_glu`). Outputs
equal evaluating every expert on every token and weighting the rest by zero
(:func:`every_expert`, the definition), up to float rounding; ``python
benchmarks/moe.py --layer`` times both. A sequence's tokens are tiled in groups of
whole rows of the batch, so the data-parallel split of a batch stays a split of
the groups. A handful of tokens (a deployed step) takes the definition's path.

Differences from the reference code, by choice: the contrastive loss's keys are
the online router's own outputs under a stop-gradient rather than a momentum
copy's; the MoE replaces the feed-forward layer of the last block only, as its
Dark Room configuration does.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.scipy.stats import norm

NOISE_EPSILON = 1e-2


def cv_squared(x: jax.Array) -> jax.Array:
    """Squared coefficient of variation of ``x: (num_experts,)``: 0 exactly when all are equal."""
    return jnp.var(x) / (jnp.mean(x) ** 2 + 1e-10)


def routing_weights(logits: jax.Array, chosen: jax.Array) -> jax.Array:
    """Gate weights ``(..., num_experts)``: the softmax of ``logits`` over the ``chosen`` experts (bool, same
    shape), zero for the rest."""
    return jnp.where(chosen, jax.nn.softmax(jnp.where(chosen, logits, -jnp.inf), axis=-1), 0.0)


class NoisyTopKGate(nn.Module):
    """Routes each token of ``x: (..., width)`` to ``num_selects`` of ``num_experts``.

    Returns ``(weights, balance_loss, probs)``: ``weights (..., num_experts)`` with exactly
    ``num_selects`` non-zero entries per token, summing to 1; ``probs``: the clean softmax
    over all experts (the router's representation of the token)."""

    num_experts: int
    num_selects: int

    @nn.compact
    def __call__(self, x, deterministic: bool = True):
        if not 0 < self.num_selects <= self.num_experts:
            raise ValueError(f"num_selects must be in [1, num_experts={self.num_experts}], got {self.num_selects}")
        hidden = jnp.tanh(nn.Dense(self.num_experts, use_bias=False, name="gate_in")(x))
        clean = nn.Dense(self.num_experts, use_bias=False, name="gate_out")(hidden)
        noise_std = jax.nn.softplus(nn.Dense(self.num_experts, use_bias=False, kernel_init=nn.initializers.zeros, name="noise")(x)) + NOISE_EPSILON
        noisy = not deterministic
        logits = clean + jax.random.normal(self.make_rng("dropout"), clean.shape) * noise_std if noisy else clean
        k = self.num_selects
        top = jax.lax.top_k(logits, min(k + 1, self.num_experts))[0]  # (..., k + 1) descending
        chosen = logits >= top[..., k - 1 : k]  # the k largest (ties measure zero under noise)
        weights = routing_weights(logits, chosen)
        flat = weights.reshape(-1, self.num_experts)
        importance = flat.sum(0)
        if noisy and k < self.num_experts:  # smooth load: P(expert in the top k) under the noise
            in_threshold, out_threshold = top[..., k : k + 1], top[..., k - 1 : k]
            threshold = jnp.where(logits > in_threshold, in_threshold, out_threshold)
            load = norm.cdf((clean - threshold) / noise_std).reshape(-1, self.num_experts).sum(0)
        else:
            load = (flat > 0).sum(0).astype(flat.dtype)
        balance = cv_squared(importance) + cv_squared(load)
        return weights, balance, jax.nn.softmax(clean, axis=-1)


class GLUExperts(nn.Module):
    """``num_experts`` GLU networks ``width -> hidden -> out`` combined with ``weights (..., num_experts)``,
    of which at most ``num_selects`` per token are non-zero: ``(..., width) -> (..., out)``. Only the chosen
    experts are evaluated (:func:`routed_glu`)."""

    num_experts: int
    hidden: int
    out: int
    num_selects: int

    @nn.compact
    def __call__(self, x, weights):
        init = nn.initializers.lecun_normal()
        e, d, h = self.num_experts, x.shape[-1], self.hidden
        params = {
            "w_in": self.param("w_in", init, (e, d, 2 * h)),
            "b_in": self.param("b_in", nn.initializers.zeros, (e, 2 * h)),
            "w_out": self.param("w_out", init, (e, h, self.out)),
            "b_out": self.param("b_out", nn.initializers.zeros, (e, self.out)),
        }
        return routed_glu(params, x, weights, self.num_selects)


#: Tokens per group of whole batch rows that :func:`routed_glu` sorts together (at most; a row is never split).
GROUP_TOKENS = 2048
#: Largest and smallest tile of pairs; the tile is the largest power of two in between whose padding,
#: one tile per expert at most, stays within half the pairs of a group.
MAX_TILE, MIN_TILE = 128, 8


@jax.custom_vjp
def _permute(rows: jax.Array, index: jax.Array, inverse: jax.Array) -> jax.Array:
    """``rows[index]``, an index equal to ``len(rows)`` giving a row of zeros. ``index`` maps each output
    row to at most one input row and ``inverse`` (``len(output)`` where none) does the converse, so the
    gradient is the same kind of gather instead of a scatter-add."""
    return _take_rows(rows, index)


def _take_rows(rows, index):
    return jnp.concatenate([rows, jnp.zeros((1,) + rows.shape[1:], rows.dtype)])[index]


def _permute_fwd(rows, index, inverse):
    return _take_rows(rows, index), (index, inverse)


def _permute_bwd(residuals, grad):
    index, inverse = residuals
    return _take_rows(grad, inverse), None, None


_permute.defvjp(_permute_fwd, _permute_bwd)


def _tile_size(pairs: int, num_experts: int) -> int:
    """The largest power of two in ``[MIN_TILE, MAX_TILE]`` with ``num_experts · tile <= pairs / 2``, or 0
    when even the smallest pads more than that (too few tokens to be worth sorting)."""
    tile = MAX_TILE
    while tile >= MIN_TILE and num_experts * tile * 2 > pairs:
        tile //= 2
    return tile if tile >= MIN_TILE else 0


def _routed_group(params: dict, x: jax.Array, weights: jax.Array, k: int, tile: int) -> jax.Array:
    """:func:`routed_glu` of one group of tokens ``x: (n, d)``, ``weights: (n, e)``, in tiles of ``tile`` pairs."""
    e, d, h2 = params["w_in"].shape
    n = x.shape[0]
    pairs = n * k
    num_tiles = -(-pairs // tile) + e  # each expert's last tile may be part empty: at most e more than full
    chosen_weights, chosen = jax.lax.top_k(weights, k)  # (n, k): the experts a token is routed to
    expert = chosen.reshape(pairs)  # pair p = token p // k, its (p % k)-th expert
    one_hot = jax.nn.one_hot(expert, e, dtype=jnp.int32)
    rank = jnp.take_along_axis(jnp.cumsum(one_hot, axis=0), expert[:, None], axis=1)[:, 0] - 1  # among its expert's
    tiles = (one_hot.sum(0) + tile - 1) // tile  # per expert
    first_tile = jnp.cumsum(tiles) - tiles
    slot = first_tile[expert] * tile + rank  # every pair's slot, distinct
    slot_pair = jnp.full((num_tiles * tile,), pairs, jnp.int32).at[slot].set(
        jnp.arange(pairs, dtype=jnp.int32), unique_indices=True)  # pairs (none) where a slot is empty
    tile_expert = jnp.minimum(jnp.searchsorted(first_tile + tiles, jnp.arange(num_tiles), side="right"), e - 1)
    select = jax.nn.one_hot(tile_expert, e, dtype=x.dtype)  # (tiles, e): each tile's expert's weights
    w_in = (select @ params["w_in"].reshape(e, -1)).reshape(num_tiles, d, h2)
    w_out = (select @ params["w_out"].reshape(e, -1)).reshape(num_tiles, h2 // 2, -1)
    slots_x = _permute(jnp.repeat(x, k, axis=0), slot_pair, slot).reshape(num_tiles, tile, d)
    a, gate = jnp.split(jnp.einsum("tsd,tdf->tsf", slots_x, w_in) + (select @ params["b_in"])[:, None], 2, axis=-1)
    slots_y = jnp.einsum("tsh,tho->tso", nn.gelu(a) * jax.nn.sigmoid(gate), w_out).reshape(num_tiles * tile, -1)
    pair_y = _permute(slots_y, slot, slot_pair).reshape(n, k, -1)
    return jnp.einsum("nk,nko->no", chosen_weights, pair_y) + weights @ params["b_out"]


def routed_glu(params: dict, x: jax.Array, weights: jax.Array, k: int) -> jax.Array:
    """The experts ``params`` (``w_in (e, d, 2h)``, ``b_in``, ``w_out (e, h, out)``, ``b_out``) on
    ``x: (..., d)``, combined with ``weights (..., e)``, of which each token has ``k`` non-zero
    (the gate's top ``k``): what :func:`every_expert` computes, evaluating only the chosen experts.

    ``x: (batch, time, d)`` is cut into groups of whole rows, at most :data:`GROUP_TOKENS` tokens each
    (but one row at least), the groups run side by side (``vmap``); other shapes form one group.
    Within a group the ``k`` (token, expert) pairs of every token are sorted by expert into
    tiles (:func:`_tile_size`); a group too small to tile is computed by the definition."""
    e = params["w_in"].shape[0]
    if x.ndim == 3 and x.shape[0] > 1:
        batch, time = x.shape[:2]
        rows = max([r for r in range(1, batch + 1) if batch % r == 0 and r * time <= GROUP_TOKENS], default=1)
        groups = (x.reshape(batch // rows, rows * time, -1), weights.reshape(batch // rows, rows * time, e))
    else:
        groups = (x.reshape(1, -1, x.shape[-1]), weights.reshape(1, -1, e))
    tile = _tile_size(groups[0].shape[1] * k, e)
    if not tile:
        return every_expert(params, x, weights)
    out = jax.vmap(lambda xs, ws: _routed_group(params, xs, ws, k, tile))(*groups)
    return out.reshape(x.shape[:-1] + out.shape[-1:])


def every_expert(params: dict, x: jax.Array, weights: jax.Array) -> jax.Array:
    """What :class:`GLUExperts` computes, by definition: every expert evaluated on every token and the
    outputs summed with ``weights (..., num_experts)``. ``params``: the layer's own (``w_in``, ``b_in``,
    ``w_out``, ``b_out``). The reference the layer is checked and timed against."""
    hid = jnp.einsum("...d,edf->...ef", x, params["w_in"]) + params["b_in"]
    a, gate = jnp.split(hid, 2, axis=-1)
    return jnp.einsum("...e,...eh,eho->...o", weights, nn.gelu(a) * jax.nn.sigmoid(gate), params["w_out"]) + weights @ params["b_out"]


class MoE(nn.Module):
    """A gate and its experts: ``(..., width) -> (..., out)`` plus the gate's balance loss and probabilities."""

    num_experts: int
    num_selects: int
    hidden: int
    out: int

    @nn.compact
    def __call__(self, x, deterministic: bool = True):
        weights, balance, probs = NoisyTopKGate(self.num_experts, self.num_selects, name="gate")(x, deterministic)
        out = GLUExperts(self.num_experts, self.hidden, self.out, self.num_selects, name="experts")(x, weights)
        return out, balance, probs, weights


class T2MIRFeedForward(nn.Module):
    """T2MIR's feed-forward layer: token-wise and task-wise MoE in parallel, outputs concatenated.

    Sows into the ``"moe"`` collection: ``balance`` (the token-wise MoE's balance loss),
    ``task_router`` (the task-wise router's probabilities averaged over each sequence,
    ``(batch, num_task_experts)``: the representation the contrastive loss trains) and,
    for diagnostics, ``token_weights`` and ``task_weights`` (every token's gate weights).
    """

    width: int
    num_experts: int = 6
    num_selects: int = 2
    expert_hidden: int = 64
    num_task_experts: int = 12
    num_task_selects: int = 2

    @nn.compact
    def __call__(self, x, deterministic: bool = True, paired=False):
        """``x: (batch, time, width)`` or one step ``(batch, width)``. ``paired``: rows ``2i`` and
        ``2i + 1`` of the batch come from the same task, so the contrastive loss is sown too; either
        ``True`` or every row's task ``(batch, P)`` (:func:`icrl.types.task_vectors`), in which case
        rows of the same task as a row's partner are left out of its negatives."""
        if self.width % 2:
            raise ValueError(f"T2MIR splits the width in two halves; width={self.width} is odd")
        half = self.width // 2
        bilinear = self.param("contrastive_w", nn.initializers.normal(1.0), (self.num_task_experts, self.num_task_experts))
        token_out, balance, _, token_weights = MoE(self.num_experts, self.num_selects, self.expert_hidden, half, name="token_moe")(x, deterministic)
        task_out, _, task_probs, task_weights = MoE(self.num_task_experts, self.num_task_selects, self.expert_hidden, half, name="task_moe")(x, deterministic)
        self.sow("moe", "balance", balance)
        if task_probs.ndim == 3:  # a whole sequence (training): one representation per sequence
            router = task_probs.mean(axis=1)
            self.sow("moe", "task_router", router)
            if paired is not False:  # True, or every row's task
                self.sow("moe", "contrastive", contrastive_loss(router, bilinear, None if paired is True else paired))
        self.sow("moe", "token_weights", token_weights)
        self.sow("moe", "task_weights", task_weights)
        return jnp.concatenate([token_out, task_out], axis=-1)


def contrastive_loss(representations: jax.Array, bilinear: jax.Array, tasks: jax.Array | None = None) -> jax.Array:
    """T2MIR's contrastive loss on ``representations: (batch, E)`` whose rows ``2i`` and ``2i + 1``
    come from the same task: each row's partner must score highest among the other half's rows
    under the bilinear form ``q W kᵀ`` (keys under a stop-gradient), averaged both ways.

    ``tasks: (batch, P)``: each row's task. Rows of the other half that share a row's task but
    are not its partner (another history of the same goal) are left out of its negatives: the
    loss is meant to tell tasks apart, not histories."""
    queries, keys = representations[0::2], representations[1::2]
    pairs = queries.shape[0]
    labels = jnp.arange(pairs)
    if tasks is None:
        excluded = jnp.zeros((pairs, pairs), bool)
    else:
        same = jnp.all(tasks[0::2][:, None, :] == tasks[1::2][None, :, :], axis=-1)  # (pairs, pairs)
        excluded = same & ~jnp.eye(pairs, dtype=bool)

    def one_way(q, k, excluded):
        logits = q @ bilinear @ jax.lax.stop_gradient(k).T
        logits = jnp.where(excluded, -jnp.inf, logits)
        logits = logits - logits.max(axis=1, keepdims=True)
        return -jnp.mean(jax.nn.log_softmax(logits, axis=1)[labels, labels])

    return 0.5 * (one_way(queries, keys, excluded) + one_way(keys, queries, excluded.T))
