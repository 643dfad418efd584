"""A GRU stack with the shared model interface: the recurrent baseline for S5.

Both faces run the same cell: the parallel face scans it over time
(``flax.linen.scan``), the step face applies it once. A reset zeroes the cell's
state before it takes the step's input, as S5's reset does.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from icrl.models.base import check_sequence, check_step


class _ResetGRUCell(nn.Module):
    width: int

    @nn.compact
    def __call__(self, state, inputs):
        x, reset = inputs
        state = jnp.where(reset[:, None], 0.0, state)
        state, y = nn.GRUCell(self.width, name="cell")(state, x)
        return state, y


_ScannedCell = nn.scan(_ResetGRUCell, variable_broadcast="params", split_rngs={"params": False}, in_axes=1, out_axes=1)


class _GRUBlock(nn.Module):
    width: int

    def setup(self):
        self.norm = nn.LayerNorm()
        self.rnn = _ScannedCell(self.width)

    def __call__(self, state, x, resets):
        """``x: (batch, time, width)``; returns ``(final state, x + GRU(norm(x)))``."""
        state, y = self.rnn(state, (self.norm(x), resets))
        return state, x + y


class GRU(nn.Module):
    """Stack of GRU blocks (pre-LayerNorm, residual) over token embeddings; ``step`` is O(1)."""

    token_dim: int
    num_outputs: int
    num_layers: int = 2
    width: int = 64
    dropout: float = 0.0  # accepted for a uniform config; a GRU block has no dropout

    def setup(self):
        self.embed = nn.Dense(self.width, bias_init=nn.initializers.normal(0.02))
        self.blocks = [_GRUBlock(self.width) for _ in range(self.num_layers)]
        self.ln_out = nn.LayerNorm()
        self.head = nn.Dense(self.num_outputs)

    def __call__(self, tokens, resets=None, deterministic: bool = True):
        """``tokens: (batch, time, token_dim)``, ``resets: (batch, time)`` -> ``(batch, time, num_outputs)``."""
        resets = check_sequence(tokens, resets, self.token_dim)
        x = self.embed(tokens)
        for block, state in zip(self.blocks, self.init_carry(tokens.shape[0])):
            _, x = block(state, x, resets)
        return self.head(self.ln_out(x))

    def init_carry(self, batch: int):
        """One ``(batch, width)`` state per layer."""
        return tuple(jnp.zeros((batch, self.width), jnp.float32) for _ in range(self.num_layers))

    def step(self, carry, token, reset=None):
        reset = check_step(token, reset, self.token_dim)
        x = self.embed(token)[:, None]
        new_carry = []
        for block, state in zip(self.blocks, carry):
            state, x = block(state, x, reset[:, None])
            new_carry.append(state)
        return tuple(new_carry), self.head(self.ln_out(x[:, 0]))
