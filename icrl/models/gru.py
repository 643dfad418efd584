"""A GRU stack with the shared model interface: the recurrent baseline for S5.

The cell is flax's ``nn.GRUCell`` (its equations, initialisers and parameter names, so
checkpoints of either load in the other), computed as a recurrent network is fastest: the
input maps of every step at once, as one matrix product over the whole sequence, and only
the state's three maps, fused into one product, step by step (``jax.lax.scan``). The step
face runs the same cell step once. A reset zeroes the cell's state before it takes the step's
input, as S5's reset does.
"""

from __future__ import annotations

from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from icrl.models.base import check_sequence, check_step


class _Map(nn.Module):
    """One of the cell's maps as ``nn.Dense`` stores it (a kernel, and a bias where it has one), read, not applied."""

    features: int
    kernel_init: Callable
    use_bias: bool = True

    @nn.compact
    def __call__(self, in_features: int):
        kernel = self.param("kernel", self.kernel_init, (in_features, self.features))
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,)) if self.use_bias else None
        return kernel, bias


class _CellWeights(nn.Module):
    """``nn.GRUCell``'s parameters under its names: input maps ``ir``, ``iz``, ``in`` (lecun normal, biased) and
    state maps ``hr``, ``hz`` (orthogonal, no bias) and ``hn`` (orthogonal, biased)."""

    width: int

    @nn.compact
    def __call__(self):
        lecun, orthogonal = nn.initializers.lecun_normal(), nn.initializers.orthogonal()
        ins = [_Map(self.width, lecun, name=n)(self.width) for n in ("ir", "iz", "in")]
        states = [_Map(self.width, orthogonal, use_bias=n == "hn", name=n)(self.width) for n in ("hr", "hz", "hn")]
        w_in = jnp.concatenate([k for k, _ in ins], axis=1)
        b_in = jnp.concatenate([b for _, b in ins])
        w_state = jnp.concatenate([k for k, _ in states], axis=1)
        return w_in, b_in, w_state, states[2][1]


class _Recurrence(nn.Module):
    width: int

    def setup(self):
        self.cell = _CellWeights(self.width)

    def _gates(self, inputs):
        """The input maps ``(..., 3 * width)`` as the three gates' parts (split outside the time loop: slicing them in
        it slows the forward pass 2x)."""
        w = self.width
        return tuple(inputs[..., i * w:(i + 1) * w] for i in range(3))

    def _step(self, h, gx, reset, w_state, b_n):
        """One step of the cell from its input maps ``gx``, the three gates' ``(batch, width)`` parts."""
        h = jnp.where(reset[:, None], 0.0, h)
        gh = h @ w_state
        w = self.width
        r = jax.nn.sigmoid(gx[0] + gh[:, :w])
        z = jax.nn.sigmoid(gx[1] + gh[:, w:2 * w])
        n = jnp.tanh(gx[2] + r * (gh[:, 2 * w:] + b_n))
        return (1.0 - z) * n + z * h

    def __call__(self, state, x, resets):
        """``state: (batch, width)``, ``x: (batch, time, width)``, ``resets: (batch, time)`` -> ``(last state, outputs)``."""
        w_in, b_in, w_state, b_n = self.cell()
        inputs = x @ w_in + b_in  # every step's input maps at once

        def one_step(h, step):
            h = self._step(h, *step, w_state, b_n)
            return h, h

        parts = tuple(jnp.moveaxis(g, 1, 0) for g in self._gates(inputs))
        state, ys = jax.lax.scan(one_step, state, (parts, jnp.moveaxis(resets, 1, 0)))
        return state, jnp.moveaxis(ys, 0, 1)

    def step(self, state, x, reset):
        """``x: (batch, width)``, ``reset: (batch,)`` -> the new state, which is the output."""
        w_in, b_in, w_state, b_n = self.cell()
        return self._step(state, self._gates(x @ w_in + b_in), reset, w_state, b_n)


class _GRUBlock(nn.Module):
    width: int

    def setup(self):
        self.norm = nn.LayerNorm()
        self.rnn = _Recurrence(self.width)

    def __call__(self, state, x, resets):
        """``x: (batch, time, width)``; returns ``(final state, x + GRU(norm(x)))``."""
        state, y = self.rnn(state, self.norm(x), resets)
        return state, x + y

    def step(self, state, x, reset):
        """``x: (batch, width)``; returns ``(new state, x + GRU step(norm(x)))``."""
        state = self.rnn.step(state, self.norm(x), reset)
        return state, x + state


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
        x = self.embed(token)
        new_carry = []
        for block, state in zip(self.blocks, carry):
            state, x = block.step(state, x, reset)
            new_carry.append(state)
        return tuple(new_carry), self.head(self.ln_out(x))
