"""The interface both backbones share, so objectives and agents never branch on one.

A sequence model maps tokens ``(batch, time, token_dim)`` and reset flags
``(batch, time) bool`` to outputs ``(batch, time, num_outputs)``, in two faces
that must agree:

- ``model.apply(params, tokens, resets)``: parallel over the whole sequence (training);
- ``model.apply(params, carry, token, reset, method="step")``: one step, with
  ``token: (batch, token_dim)``, ``reset: (batch,) bool``, returning
  ``(carry, output)`` (in-context rollout); ``init_carry(batch)`` starts it.

``reset[t]`` means output ``t`` and later depend on nothing before ``t`` (a new
task, or an episode boundary if an objective wants one).
"""

from __future__ import annotations

import chex
import jax.numpy as jnp


def check_sequence(tokens, resets, token_dim: int, max_len: int | None = None):
    """Validate the parallel face's inputs; returns ``resets`` as bool (all False if None)."""
    chex.assert_rank(tokens, 3)
    batch, time, dim = tokens.shape
    if dim != token_dim:
        raise ValueError(f"tokens have {dim} features per step; this model was built for token_dim={token_dim}")
    if max_len is not None and time > max_len:
        raise ValueError(f"sequence of {time} steps is longer than the model's context max_len={max_len}")
    if resets is None:
        return jnp.zeros((batch, time), bool)
    chex.assert_shape(resets, (batch, time))
    return resets.astype(bool)


def check_step(token, reset, token_dim: int):
    chex.assert_rank(token, 2)
    if token.shape[-1] != token_dim:
        raise ValueError(f"token has {token.shape[-1]} features; this model was built for token_dim={token_dim}")
    if reset is None:
        return jnp.zeros(token.shape[:1], bool)
    chex.assert_shape(reset, token.shape[:1])
    return reset.astype(bool)
