"""GPT-style causal transformer with a key-value cache for step-by-step rollouts."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct

from icrl.models.base import check_sequence, check_step

NEG_INF = -1e30


@struct.dataclass
class KVCache:
    """``keys, values: (num_layers, batch, max_len, num_heads, head_dim)``;
    ``time: (batch,)`` steps taken; ``segment_start: (batch,)`` step of the last reset."""

    keys: jax.Array
    values: jax.Array
    time: jax.Array
    segment_start: jax.Array


def causal_attention(q, k, v, mask):
    """Softmax attention; ``q, k, v: (batch, time, heads, head_dim)``, ``mask: (batch, time, time)``.

    Scores are laid out ``(batch, heads, time, time)`` so both products are plain
    batched matrix products. benchmarks/pretrain.py, side by side: 1.22x the
    training steps/s of ``jax.nn.dot_product_attention`` on an H100, on par on CPU.
    """
    q, k, v = (jnp.swapaxes(x, 1, 2) for x in (q, k, v))
    scores = jnp.einsum("bhtd,bhsd->bhts", q, k) / jnp.sqrt(q.shape[-1]).astype(q.dtype)
    scores = jnp.where(mask[:, None], scores, NEG_INF)
    out = jnp.einsum("bhts,bhsd->bhtd", jax.nn.softmax(scores, axis=-1), v)
    return jnp.swapaxes(out, 1, 2)


class Block(nn.Module):
    width: int
    num_heads: int
    dropout: float
    attention: str = "einsum"

    def setup(self):
        self.ln_attn = nn.LayerNorm()
        self.qkv = nn.DenseGeneral((3, self.num_heads, self.width // self.num_heads))
        self.proj = nn.DenseGeneral(self.width, axis=(-2, -1))
        self.ln_mlp = nn.LayerNorm()
        self.mlp_in = nn.Dense(4 * self.width)
        self.mlp_out = nn.Dense(self.width)
        self.drop = nn.Dropout(self.dropout)

    def _mlp(self, x, deterministic):
        h = self.mlp_out(nn.gelu(self.mlp_in(self.ln_mlp(x))))
        return x + self.drop(h, deterministic=deterministic)

    def __call__(self, x, mask, deterministic=True):
        """``x: (batch, time, width)``, ``mask: (batch, time, time)`` bool (query, key)."""
        q, k, v = jnp.moveaxis(self.qkv(self.ln_attn(x)), -3, 0)  # each (b, t, h, d)
        if self.attention == "jax":  # jax.nn.dot_product_attention: XLA, or cuDNN where it applies
            out = jax.nn.dot_product_attention(q, k, v, mask=mask[:, None])
        else:
            out = causal_attention(q, k, v, mask)
        x = x + self.drop(self.proj(out), deterministic=deterministic)
        return self._mlp(x, deterministic)

    def step(self, x, keys, values, time, segment_start):
        """One token ``x: (batch, width)`` against a cache ``(batch, max_len, h, d)``."""
        q, k, v = jnp.moveaxis(self.qkv(self.ln_attn(x)), -3, 0)  # each (b, h, d)
        write = jax.vmap(lambda c, new, t: jax.lax.dynamic_update_slice_in_dim(c, new[None], t, 0))
        keys, values = write(keys, k, time), write(values, v, time)
        slots = jnp.arange(keys.shape[1])
        valid = (slots[None] <= time[:, None]) & (slots[None] >= segment_start[:, None])  # (b, max_len)
        scores = jnp.einsum("bhd,bshd->bhs", q, keys) / jnp.sqrt(q.shape[-1]).astype(q.dtype)
        scores = jnp.where(valid[:, None], scores, NEG_INF)
        out = jnp.einsum("bhs,bshd->bhd", jax.nn.softmax(scores, axis=-1), values)
        x = x + self.proj(out)
        return self._mlp(x, True), keys, values


class Transformer(nn.Module):
    """Pre-LayerNorm causal decoder over tokens ``(batch, time, token_dim)``.

    Learned position embeddings count steps since the last reset; attention
    never crosses a reset. The context is at most ``max_len`` steps: a longer
    sequence raises ``ValueError`` in the parallel face, and the step face
    returns NaN outputs once its cache is full (the model agent checks the
    horizon against ``max_len`` before a rollout starts). ``step`` costs
    O(max_len) per token through the key-value cache, instead of an O(t²)
    recomputation of the whole prefix.
    """

    token_dim: int
    num_outputs: int
    max_len: int
    num_layers: int = 3
    num_heads: int = 4
    width: int = 64
    dropout: float = 0.0
    attention: str = "einsum"  # "einsum" (our layout) or "jax" (jax.nn.dot_product_attention)

    def setup(self):
        if self.attention not in ("einsum", "jax"):
            raise ValueError(f"attention must be 'einsum' or 'jax', got {self.attention!r}")
        if self.width % self.num_heads:
            raise ValueError(f"width={self.width} must be divisible by num_heads={self.num_heads}")
        self.embed = nn.Dense(self.width)
        self.positions = self.param("positions", nn.initializers.normal(0.02), (self.max_len, self.width))
        self.blocks = [Block(self.width, self.num_heads, self.dropout, self.attention) for _ in range(self.num_layers)]
        self.ln_out = nn.LayerNorm()
        self.head = nn.Dense(self.num_outputs)
        self.drop = nn.Dropout(self.dropout)

    def __call__(self, tokens, resets=None, deterministic: bool = True):
        """``tokens: (batch, time, token_dim)``, ``resets: (batch, time)`` -> ``(batch, time, num_outputs)``."""
        resets = check_sequence(tokens, resets, self.token_dim, self.max_len)
        time = tokens.shape[1]
        steps = jnp.arange(time)
        segment = jnp.cumsum(resets, axis=1)  # (b, t)
        segment_start = jax.lax.cummax(jnp.where(resets, steps, 0), axis=1)
        mask = (steps[None, :, None] >= steps[None, None, :]) & (segment[:, :, None] == segment[:, None, :])
        x = self.embed(tokens) + self.positions[steps - segment_start]
        x = self.drop(x, deterministic=deterministic)
        for block in self.blocks:
            x = block(x, mask, deterministic)
        return self.head(self.ln_out(x))

    def init_carry(self, batch: int) -> KVCache:
        head_dim = self.width // self.num_heads
        shape = (self.num_layers, batch, self.max_len, self.num_heads, head_dim)
        zeros = jnp.zeros(batch, jnp.int32)
        return KVCache(jnp.zeros(shape), jnp.zeros(shape), zeros, zeros)

    def step(self, carry: KVCache, token, reset=None):
        """``token: (batch, token_dim)``, ``reset: (batch,)`` -> ``(carry, (batch, num_outputs))``."""
        reset = check_step(token, reset, self.token_dim)
        time = carry.time
        segment_start = jnp.where(reset, time, carry.segment_start)
        x = self.embed(token) + self.positions[jnp.clip(time - segment_start, 0, self.max_len - 1)]
        keys, values = [], []
        for i, block in enumerate(self.blocks):
            x, k, v = block.step(x, carry.keys[i], carry.values[i], time, segment_start)
            keys.append(k)
            values.append(v)
        out = self.head(self.ln_out(x))
        out = jnp.where((time < self.max_len)[:, None], out, jnp.nan)
        return KVCache(jnp.stack(keys), jnp.stack(values), time + 1, segment_start), out

    def step_without_cache(self, tokens, resets=None):
        """Reference rollout step without a cache: the whole prefix is recomputed
        and the last output returned. ``tokens: (batch, t, token_dim)``."""
        return self(tokens, resets)[:, -1]
