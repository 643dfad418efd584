"""GPT-style causal transformer with a key-value cache for step-by-step rollouts."""

from __future__ import annotations

import functools
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct

from envs.bayesopt import cosines
from icrl.models.base import check_sequence, check_step
from icrl.models.moe import T2MIRFeedForward

NEG_INF = -1e30
POSITION_ENCODINGS = ("rotary", "alibi", "learned")
FEED_FORWARDS = ("dense", "t2mir")
EMBEDDINGS = ("linear", "mlp")
ROTARY_BASE = 10_000.0


@struct.dataclass
class KVCache:
    """A ring buffer of the last ``max_len`` steps' keys and values.

    ``keys, values: (num_layers, batch, num_heads, max_len, head_dim)`` (keys before any
    rotation; heads before slots, the layout of the attention's products, so that a step
    reads the cache without transposing it); ``slot_time: (batch, max_len)`` the step each
    slot holds (-1: empty);
    ``time: (batch,)`` steps taken; ``segment_start: (batch,)`` step of the last reset.
    """

    keys: jax.Array
    values: jax.Array
    slot_time: jax.Array
    time: jax.Array
    segment_start: jax.Array


def rotary_frequencies(head_dim: int) -> jax.Array:
    """Angular frequencies of rotary position encoding: ``(head_dim // 2,)``."""
    return ROTARY_BASE ** (-jnp.arange(0, head_dim, 2, dtype=jnp.float32) / head_dim)


def rotation(angles: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(cos, sin)`` of rotary ``angles: (..., d/2)``, each repeated to ``(..., d)``: computed once per
    sequence and shared by every layer."""
    return jnp.tile(jnp.cos(angles), 2), jnp.tile(jnp.sin(angles), 2)


def rotate(x: jax.Array, cos_sin: tuple[jax.Array, jax.Array]) -> jax.Array:
    """Rotate the feature pairs ``(x[..., i], x[..., i + d/2])`` of ``x: (..., d)`` by the angles
    whose :func:`rotation` is ``cos_sin``."""
    cos, sin = cos_sin
    a, b = jnp.split(x, 2, axis=-1)
    return x * cos + jnp.concatenate([-b, a], axis=-1) * sin


def alibi_slopes_init(num_heads: int) -> jax.Array:
    """ALiBi's geometric slopes ``2^(-8 (h + 1) / num_heads)``, stored through an inverse softplus."""
    slopes = 2.0 ** (-8.0 * (jnp.arange(num_heads) + 1) / num_heads)
    return jnp.log(jnp.expm1(slopes))


#: Sequences longer than ``2 * QUERY_CHUNK`` attend in blocks of ``QUERY_CHUNK`` queries (:func:`causal_attention`).
QUERY_CHUNK = 128


def _attention(q, k, v, mask, bias):
    q, k, v = (jnp.swapaxes(x, 1, 2) for x in (q, k, v))
    scores = jnp.einsum("bhtd,bhsd->bhts", q, k) / jnp.sqrt(q.shape[-1]).astype(q.dtype)
    if bias is not None:
        scores = scores + bias
    scores = jnp.where(mask[:, None], scores, NEG_INF)
    out = jnp.einsum("bhts,bhsd->bhtd", jax.nn.softmax(scores, axis=-1), v)
    return jnp.swapaxes(out, 1, 2)


def causal_attention(q, k, v, mask, bias=None, query_chunk: int | None = None):
    """Softmax attention; ``q, k, v: (batch, time, heads, head_dim)``, ``mask: (batch or 1, time, time)``;
    ``bias``: added to the scores, ``(batch or 1, heads, time, time)``.

    Scores are laid out ``(batch, heads, time, time)`` so both products are plain
    batched matrix products. benchmarks/pretrain.py, side by side: 1.22x the
    training steps/s of ``jax.nn.dot_product_attention`` on an H100, on par on CPU.

    A sequence longer than ``2 * query_chunk`` is computed in blocks of ``query_chunk`` queries,
    each against the keys up to its last query only (the mask must be causal, as every mask of
    this module is) and rematerialised in the backward pass, so no ``time x time`` array of
    scores is ever whole: the same numbers, and the compiled training step of a paper-scale
    bandit DPT (contexts of 500) needs 4.3 instead of 9.7 GiB of temporaries
    (``benchmarks/stream.py --memory``).
    """
    time, query_chunk = q.shape[1], query_chunk or QUERY_CHUNK
    if time <= 2 * query_chunk:
        return _attention(q, k, v, mask, bias)

    blocks = [(start, min(start + query_chunk, time)) for start in range(0, time, query_chunk)]
    return jnp.concatenate([_query_block(q, k, v, mask, bias, start, end) for start, end in blocks], axis=1)


@functools.partial(jax.checkpoint, static_argnums=(5, 6))
def _query_block(q, k, v, mask, bias, start: int, end: int):
    """Attention of query rows ``[start, end)`` against keys ``[0, end)``: the mask is causal, so no
    later key is seen (about half the work of every block scoring every key). Rematerialised, and
    sliced inside, so what the backward pass keeps of each block is the whole inputs, shared."""
    return _attention(q[:, start:end], k[:, :end], v[:, :end], mask[:, start:end, :end],
                      None if bias is None else bias[:, :, start:end, :end])


class Block(nn.Module):
    width: int
    num_heads: int
    dropout: float
    attention: str = "einsum"
    alibi: bool = False
    moe: dict | None = None  # T2MIRFeedForward's settings: this block's feed-forward layer is T2MIR's

    def setup(self):
        self.ln_attn = nn.LayerNorm()
        self.qkv = nn.DenseGeneral((3, self.num_heads, self.width // self.num_heads))
        self.proj = nn.DenseGeneral(self.width, axis=(-2, -1))
        self.ln_mlp = nn.LayerNorm()
        if self.moe is None:
            self.mlp_in = nn.Dense(4 * self.width)
            self.mlp_out = nn.Dense(self.width)
        else:
            self.ffn = T2MIRFeedForward(self.width, **self.moe)
        self.drop = nn.Dropout(self.dropout)
        if self.alibi:
            self.alibi_raw = self.param("alibi_slopes", lambda key: alibi_slopes_init(self.num_heads))

    def _slopes(self):
        return jax.nn.softplus(self.alibi_raw)

    def _mlp(self, x, deterministic, paired=False):
        if self.moe is None:
            h = self.mlp_out(nn.gelu(self.mlp_in(self.ln_mlp(x))))
        else:
            h = self.ffn(self.ln_mlp(x), deterministic, paired)
        return x + self.drop(h, deterministic=deterministic)

    def __call__(self, x, mask, cos_sin=None, distance=None, deterministic=True, paired=False):
        """``x: (batch, time, width)``, ``mask: (batch, time, time)`` bool (query, key);
        ``cos_sin``: the :func:`rotation` of each step's position, ``(batch, time, 1, head_dim)`` each, or None;
        ``distance: (time, time)`` steps from key to query (ALiBi)."""
        q, k, v = jnp.moveaxis(self.qkv(self.ln_attn(x)), -3, 0)  # each (b, t, h, d)
        if cos_sin is not None:
            q, k = rotate(q, cos_sin), rotate(k, cos_sin)
        bias = None if not self.alibi else -self._slopes()[None, :, None, None] * distance
        if self.attention == "jax":  # jax.nn.dot_product_attention: XLA, or cuDNN where it applies
            out = jax.nn.dot_product_attention(q, k, v, bias=bias, mask=mask[:, None])
        else:
            out = causal_attention(q, k, v, mask, bias)
        x = x + self.drop(self.proj(out), deterministic=deterministic)
        return self._mlp(x, deterministic, paired)

    def step(self, x, keys, values, slot, valid, key_rotation=None, distance=None):
        """One token ``x: (batch, width)`` against a cache ``(batch, h, max_len, d)``: its key and
        value go to ring-buffer ``slot: (batch,)``; it attends to the slots ``valid: (batch, max_len)``.
        ``key_rotation``: the :func:`rotation` of each cached key's position relative to this step,
        ``(batch, 1, max_len, d)`` each; ``distance: (batch, max_len)``: steps from each cached key to
        this step (ALiBi)."""
        q, k, v = jnp.moveaxis(self.qkv(self.ln_attn(x)), -3, 0)  # each (b, h, d)
        # written by a select over the slots, not a per-row dynamic_update_slice, which becomes a scatter
        # with transposed copies of the cache once a rollout vmaps the step (1.2x the DPT rollout's speed)
        here = (jnp.arange(keys.shape[2]) == slot[:, None])[:, None, :, None]  # (b, 1, max_len, 1)
        keys, values = jnp.where(here, k[:, :, None], keys), jnp.where(here, v[:, :, None], values)
        rotated = keys if key_rotation is None else rotate(keys, key_rotation)
        scores = jnp.einsum("bhd,bhsd->bhs", q, rotated) / jnp.sqrt(q.shape[-1]).astype(q.dtype)
        if self.alibi:
            scores = scores - self._slopes()[None, :, None] * distance[:, None]
        scores = jnp.where(valid[:, None], scores, NEG_INF)
        out = jnp.einsum("bhs,bhsd->bhd", jax.nn.softmax(scores, axis=-1), values)
        x = x + self.proj(out)
        return self._mlp(x, True), keys, values

    def step_beams(self, x, base_keys, base_values, base_valid, suffix_keys, suffix_values, base_rotation=None,
                   suffix_rotation=None, base_distance=None, suffix_distance=None):
        """Tokens of ``K`` beams ``x: (K, width)`` that continue one context, each after imagined steps of
        its own: they attend to the context's cache, shared and never copied (``base_keys, base_values:
        (h, max_len, d)``, the slots ``base_valid: (max_len,)``), and to their own earlier imagined steps
        and this one (``suffix_keys, suffix_values: (K, j, h, d)``, this step's appended). Rotations and
        distances as :meth:`step`, for the base ``(max_len, d)`` and the suffix ``(j + 1, 1, d)``.
        Returns ``x`` and this step's key and value ``(K, h, d)``."""
        q, k, v = jnp.moveaxis(self.qkv(self.ln_attn(x)), -3, 0)  # each (K, h, d)
        suffix_keys = jnp.concatenate([suffix_keys, k[:, None]], axis=1)
        suffix_values = jnp.concatenate([suffix_values, v[:, None]], axis=1)
        rotated_base = base_keys if base_rotation is None else rotate(base_keys, base_rotation)
        rotated_suffix = suffix_keys if suffix_rotation is None else rotate(suffix_keys, suffix_rotation)
        scale = jnp.sqrt(q.shape[-1]).astype(q.dtype)
        base_scores = jnp.einsum("khd,hsd->khs", q, rotated_base) / scale
        suffix_scores = jnp.einsum("khd,kshd->khs", q, rotated_suffix) / scale
        if self.alibi:
            base_scores = base_scores - self._slopes()[None, :, None] * base_distance
            suffix_scores = suffix_scores - self._slopes()[None, :, None] * suffix_distance
        base_scores = jnp.where(base_valid, base_scores, NEG_INF)
        weights = jax.nn.softmax(jnp.concatenate([base_scores, suffix_scores], axis=-1), axis=-1)
        n = base_keys.shape[1]
        out = (jnp.einsum("khs,hsd->khd", weights[..., :n], base_values)
               + jnp.einsum("khs,kshd->khd", weights[..., n:], suffix_values))
        x = x + self.proj(out)
        return self._mlp(x, True), k, v


class Transformer(nn.Module):
    """Pre-LayerNorm causal decoder over tokens ``(batch, time, token_dim)``.

    Positions count steps since the last reset; attention never crosses a reset.
    ``position_encoding``:

    - ``"alibi"`` (default) or ``"rotary"``: relative positions (ALiBi, a per-head
      penalty on the scores linear in the distance, its slopes learned; or rotary
      embeddings of queries and keys). ALiBi costs what learned positions cost per
      step on CPU, rotary about 15% more (benchmarks/pretrain.py), and on a tiny Dark
      Room DPT rotary learned slowest of the three. Each step attends to at most the last ``max_len``
      steps, in both faces, so a model trained on sequences of ``max_len`` runs in
      context for as long as asked, never meeting a distance it was not trained on:
      the step face keeps a ring buffer of the last ``max_len`` keys and values (a
      sliding window).
    - ``"learned"``: absolute learned embeddings of positions ``0 .. max_len - 1``;
      a longer sequence raises ``ValueError`` in the parallel face, and the step face
      returns NaN outputs past ``max_len`` steps (the model agent refuses such a
      rollout before it starts).

    ``step`` costs O(max_len) per token through the key-value cache, instead of an
    O(t²) recomputation of the whole prefix.
    """

    token_dim: int
    num_outputs: int
    max_len: int
    num_layers: int = 3
    num_heads: int = 4
    width: int = 64
    dropout: float = 0.0
    attention: str = "einsum"  # "einsum" (our layout) or "jax" (jax.nn.dot_product_attention)
    position_encoding: str = "alibi"
    embedding: str = "linear"  # "linear", or "mlp": Dense -> GELU -> Dense, so a token's features combine before attention
    ffn: str = "dense"  # "dense", or "t2mir": the last block's feed-forward layer is T2MIR's two MoEs
    num_experts: int = 6  # t2mir: token-wise experts ...
    num_selects: int = 2  # ... each token uses this many
    num_task_experts: int = 12  # t2mir: task-wise experts ...
    num_task_selects: int = 2  # ... each token uses this many
    expert_hidden: int = 64  # t2mir: hidden width of every expert (GLU)
    moe_balance_weight: float = 0.1  # t2mir: weight of the token-wise MoE's balance loss
    moe_contrastive_weight: float = 0.01  # t2mir: weight of the task router's contrastive loss
    # outputs from this index on come from a head of their own, an MLP (4 x width hidden units, GELU) on the last layer's
    # features behind a stop_gradient: their loss trains that head alone, never the layers the other outputs share (0: none)
    detach_from: int = 0
    # the outputs are logits over a square grid's cells (num_outputs = size**2, cell r * size + c), each the sum of a learned
    # bias and the head's coefficients of the first output_basis x output_basis products of cosines over the grid
    # (envs.bayesopt.grid_cosines): candidates near each other score alike (0: a free logit per output)
    output_basis: int = 0

    def setup(self):
        if self.attention not in ("einsum", "jax"):
            raise ValueError(f"attention must be 'einsum' or 'jax', got {self.attention!r}")
        if self.position_encoding not in POSITION_ENCODINGS:
            raise ValueError(f"position_encoding must be one of {POSITION_ENCODINGS}, got {self.position_encoding!r}")
        if self.width % self.num_heads:
            raise ValueError(f"width={self.width} must be divisible by num_heads={self.num_heads}")
        if self.position_encoding == "rotary" and (self.width // self.num_heads) % 2:
            raise ValueError(f"rotary positions need an even head size, got width={self.width}, num_heads={self.num_heads}")
        # A random bias: a token of zeros (a bandit's first step, before any transition) would otherwise
        # embed to the zero vector, whose LayerNorm divides by sqrt(eps) (gradients ~1e11 at init).
        self.embed = nn.Dense(self.width, bias_init=nn.initializers.normal(0.02))
        if self.embedding not in EMBEDDINGS:
            raise ValueError(f"embedding must be one of {EMBEDDINGS}, got {self.embedding!r}")
        if self.embedding == "mlp":
            self.embed_hidden = nn.Dense(self.width, bias_init=nn.initializers.normal(0.02))
        if not self.relative:
            self.positions = self.param("positions", nn.initializers.normal(0.02), (self.max_len, self.width))
        if self.ffn not in FEED_FORWARDS:
            raise ValueError(f"ffn must be one of {FEED_FORWARDS}, got {self.ffn!r}")
        alibi = self.position_encoding == "alibi"
        moe = None if self.ffn == "dense" else dict(
            num_experts=self.num_experts, num_selects=self.num_selects, expert_hidden=self.expert_hidden,
            num_task_experts=self.num_task_experts, num_task_selects=self.num_task_selects,
        )
        self.blocks = [
            Block(self.width, self.num_heads, self.dropout, self.attention, alibi, moe if i == self.num_layers - 1 else None)
            for i in range(self.num_layers)
        ]
        self.ln_out = nn.LayerNorm()
        if not 0 <= self.detach_from < self.num_outputs:
            raise ValueError(f"detach_from must be in [0, num_outputs={self.num_outputs}), got {self.detach_from!r}")
        if self.output_basis:
            side = math.isqrt(self.num_outputs)
            if side * side != self.num_outputs or not 0 < self.output_basis <= side or self.detach_from:
                raise ValueError(f"output_basis={self.output_basis} scores the cells of a square grid through at most its side's "
                                 f"cosines per axis, without detach_from: num_outputs={self.num_outputs} (side {side}), "
                                 f"detach_from={self.detach_from}")
            centres = (jnp.arange(side, dtype=jnp.float32) + 0.5) / side
            self.cosines = cosines(centres, self.output_basis).T  # (basis, side), constant
            self.output_bias = self.param("output_bias", nn.initializers.zeros, (self.num_outputs,))
        # a smooth head starts near every candidate alike: at the usual scale it would sum output_basis**2 random scores per logit
        self.head = (nn.Dense(self.output_basis ** 2, kernel_init=nn.initializers.normal(1e-3)) if self.output_basis
                     else nn.Dense(self.detach_from or self.num_outputs))
        if self.detach_from:
            self.detached_hidden = nn.Dense(4 * self.width)
            self.detached_head = nn.Dense(self.num_outputs - self.detach_from)
        self.drop = nn.Dropout(self.dropout)

    @property
    def relative(self) -> bool:
        """Relative positions (rotary or ALiBi): the model slides a window of ``max_len`` steps."""
        return self.position_encoding != "learned"

    @property
    def context_limit(self) -> int | None:
        """The most steps a rollout may take in one context (None: unlimited, sliding window)."""
        return None if self.relative else self.max_len

    def _embed(self, tokens):
        if self.embedding == "mlp":
            tokens = nn.gelu(self.embed_hidden(tokens))
        return self.embed(tokens)

    def _frequencies(self):
        return rotary_frequencies(self.width // self.num_heads)

    def _key_rotation(self, distance):
        """The :func:`rotation` of cached keys ``distance: (batch, max_len)`` (int) steps back, ``(batch, 1,
        max_len, head_dim)`` each: looked up in a table of the distances ``0 .. max_len`` (a valid slot is at
        most ``max_len - 1`` back; the others are masked), not computed afresh for every row and slot at every
        step (sines and cosines of every cached key were most of a rollout's time: 1.7x the DPT rollout's speed)."""
        cos, sin = rotation(-jnp.arange(self.max_len + 1, dtype=jnp.float32)[:, None] * self._frequencies())
        index = jnp.clip(distance, 0, self.max_len)
        return cos[index][:, None], sin[index][:, None]

    def __call__(self, tokens, resets=None, deterministic: bool = True, paired=False):
        """``tokens: (batch, time, token_dim)``, ``resets: (batch, time)`` -> ``(batch, time, num_outputs)``.
        ``paired``: rows ``2i`` and ``2i + 1`` come from the same task (T2MIR's contrastive loss):
        ``True``, or each row's task ``(batch, P)`` so that other rows of a pair's task are no negatives."""
        no_resets = resets is None  # static: every row's positions are 0..time-1
        resets = check_sequence(tokens, resets, self.token_dim, self.context_limit)
        time = tokens.shape[1]
        steps = jnp.arange(time)
        mask = jnp.broadcast_to(steps[:, None] >= steps[None, :], (1, time, time))
        if no_resets:
            position = steps[None]  # (1, t)
        else:
            segment = jnp.cumsum(resets, axis=1)  # (b, t)
            position = steps - jax.lax.cummax(jnp.where(resets, steps, 0), axis=1)  # (b, t)
            mask = mask & (segment[:, :, None] == segment[:, None, :])
        x = self._embed(tokens)
        cos_sin = None
        distance = (steps[:, None] - steps[None, :]).astype(jnp.float32)
        if self.relative:
            mask &= (distance < self.max_len)[None]  # the sliding window
        if self.position_encoding == "rotary":
            cos_sin = rotation(position[:, :, None, None].astype(jnp.float32) * self._frequencies())
        elif self.position_encoding == "learned":
            x = x + self.positions[position]
        x = self.drop(x, deterministic=deterministic)
        for block in self.blocks:
            x = block(x, mask, cos_sin, distance, deterministic, paired)
        return self._outputs(self.ln_out(x))

    def _outputs(self, features):
        """The outputs of the last layer's ``features``: the head's, then (``detach_from``) the detached head's."""
        out = self.head(features)
        if self.output_basis:
            coefficients = out.reshape(out.shape[:-1] + (self.output_basis, self.output_basis))  # (..., row j, column k)
            grid = jnp.einsum("...jk,jr,kc->...rc", coefficients, self.cosines, self.cosines)
            return grid.reshape(out.shape[:-1] + (self.num_outputs,)) + self.output_bias
        if not self.detach_from:
            return out
        detached = self.detached_head(nn.gelu(self.detached_hidden(jax.lax.stop_gradient(features))))
        return jnp.concatenate([out, detached], axis=-1)

    def init_carry(self, batch: int) -> KVCache:
        head_dim = self.width // self.num_heads
        shape = (self.num_layers, batch, self.num_heads, self.max_len, head_dim)
        zeros = jnp.zeros(batch, jnp.int32)
        return KVCache(jnp.zeros(shape), jnp.zeros(shape), jnp.full((batch, self.max_len), -1, jnp.int32), zeros, zeros)

    def step(self, carry: KVCache, token, reset=None):
        """``token: (batch, token_dim)``, ``reset: (batch,)`` -> ``(carry, (batch, num_outputs))``."""
        reset = check_step(token, reset, self.token_dim)
        time = carry.time
        segment_start = jnp.where(reset, time, carry.segment_start)
        slot = time % self.max_len
        slot_time = jax.vmap(lambda s, i, t: s.at[i].set(t))(carry.slot_time, slot, time)
        valid = (slot_time >= 0) & (slot_time >= segment_start[:, None])  # (b, max_len)
        x = self._embed(token)
        key_rotation = None
        back = time[:, None] - slot_time  # a cached key sits this many steps back
        distance = back.astype(jnp.float32)
        if self.position_encoding == "rotary":
            key_rotation = self._key_rotation(back)
        elif self.position_encoding == "learned":
            x = x + self.positions[jnp.clip(time - segment_start, 0, self.max_len - 1)]
        keys, values = [], []
        for i, block in enumerate(self.blocks):
            x, k, v = block.step(x, carry.keys[i], carry.values[i], slot, valid, key_rotation, distance)
            keys.append(k)
            values.append(v)
        out = self._outputs(self.ln_out(x))
        if not self.relative:  # past its learned positions: loud, never a silent wrong answer
            out = jnp.where((time < self.max_len)[:, None], out, jnp.nan)
        return KVCache(jnp.stack(keys), jnp.stack(values), slot_time, time + 1, segment_start), out

    def step_beams(self, base: KVCache, suffix_keys, suffix_values, tokens):
        """Imagined step ``j`` of ``K`` beams that continue the context of ``base`` (a cache of one row,
        shared, never copied): ``suffix_keys, suffix_values: (num_layers, K, j, h, d)`` the keys and values
        of each beam's earlier imagined steps, ``tokens: (K, token_dim)`` this step's. Returns the suffixes
        with this step's appended and the outputs ``(K, num_outputs)``, equal to :meth:`step` run on a copy
        of ``base`` per beam (the base's oldest slots leave the window as imagined steps enter it)."""
        if not self.relative:
            raise ValueError("imagined steps past the context need relative positions (rotary or alibi)")
        j = suffix_keys.shape[2]
        time = base.time[0] + j  # this step's time
        slot_time = base.slot_time[0]
        base_valid = (slot_time >= 0) & (slot_time >= base.segment_start[0]) & (slot_time > time - self.max_len)
        base_distance = (time - slot_time).astype(jnp.float32)  # (max_len,)
        suffix_distance = jnp.arange(j, -1, -1, dtype=jnp.float32)  # (j + 1,)
        base_rotation = suffix_rotation = None
        if self.position_encoding == "rotary":
            base_rotation = rotation(-base_distance[:, None] * self._frequencies())  # (max_len, d), as the base's slots
            suffix_rotation = rotation(-suffix_distance[:, None, None] * self._frequencies())
        x = self._embed(tokens)
        keys, values = [], []
        for i, block in enumerate(self.blocks):
            x, k, v = block.step_beams(x, base.keys[i, 0], base.values[i, 0], base_valid, suffix_keys[i], suffix_values[i],
                                       base_rotation, suffix_rotation, base_distance, suffix_distance)
            keys.append(k)
            values.append(v)
        suffix_keys = jnp.concatenate([suffix_keys, jnp.stack(keys)[:, :, None]], axis=2)
        suffix_values = jnp.concatenate([suffix_values, jnp.stack(values)[:, :, None]], axis=2)
        return suffix_keys, suffix_values, self._outputs(self.ln_out(x))

    def step_without_cache(self, tokens, resets=None):
        """Reference rollout step without a cache: the whole prefix is recomputed
        and the last output returned. ``tokens: (batch, t, token_dim)``."""
        return self(tokens, resets)[:, -1]
