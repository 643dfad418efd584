"""Fast Gamma/Beta sampling for Thompson sampling inside vmapped scans."""

from __future__ import annotations

import jax
import jax.numpy as jnp

#: Marsaglia–Tsang accepts a proposal with probability >= 0.951 for shape >= 1,
#: so the chance that all ``num_proposals`` are rejected is <= 0.049**k.
DEFAULT_PROPOSALS = 4


def gamma(
    key: jax.Array, shape_param: jax.Array, num_proposals: int = DEFAULT_PROPOSALS, shape_at_least_one: bool = False
) -> jax.Array:
    """``Gamma(shape_param, 1)`` draws by Marsaglia–Tsang with a fixed number of proposals.

    ``jax.random.gamma`` runs a rejection ``while_loop``; under ``vmap`` in a
    scan every lane waits for the slowest, which made Thompson sampling 40×
    slower than UCB. Here ``num_proposals`` proposals are drawn at once and the
    first accepted is kept. If none is accepted (probability <= 0.049**k for
    shape >= 1: 6e-6 for k = 4) the last proposal is returned, so the output's
    total-variation distance from the exact Gamma law is at most that
    probability. Shapes < 1 use the boost ``Gamma(a) = Gamma(a + 1) · U**(1/a)``;
    ``shape_at_least_one=True`` (a static promise) skips it.
    """
    a = jnp.asarray(shape_param, jnp.float32)
    boosted = a < 1.0
    a1 = jnp.where(boosted, a + 1.0, a)
    d = a1 - 1.0 / 3.0
    c = 1.0 / jnp.sqrt(9.0 * d)
    k_norm, k_unif, k_boost = jax.random.split(key, 3)
    x = jax.random.normal(k_norm, (num_proposals,) + a.shape)
    log_u = jnp.log(jax.random.uniform(k_unif, (num_proposals,) + a.shape))
    v = (1.0 + c * x) ** 3
    safe_v = jnp.maximum(v, 1e-30)
    accept = (v > 0) & (log_u < 0.5 * x * x + d - d * safe_v + d * jnp.log(safe_v))
    first = jnp.argmax(accept, axis=0)  # index of the first accepted proposal (0 if none)
    first = jnp.where(jnp.any(accept, axis=0), first, num_proposals - 1)
    sample = d * jnp.take_along_axis(safe_v, first[None], axis=0)[0]
    if shape_at_least_one:
        return sample
    boost = jax.random.uniform(k_boost, a.shape, minval=jnp.finfo(jnp.float32).tiny) ** (1.0 / a)
    return jnp.where(boosted, sample * boost, sample)


def beta(
    key: jax.Array, a: jax.Array, b: jax.Array, num_proposals: int = DEFAULT_PROPOSALS, shape_at_least_one: bool = False
) -> jax.Array:
    """``Beta(a, b) = X / (X + Y)`` with ``X ~ Gamma(a)``, ``Y ~ Gamma(b)`` from one fused draw."""
    a, b = jnp.broadcast_arrays(jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32))
    g = gamma(key, jnp.stack([a, b]), num_proposals, shape_at_least_one)
    return g[0] / (g[0] + g[1])
