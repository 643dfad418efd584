import jax
import jax.numpy as jnp
import numpy as np
import pytest

from icrl.agents import sampling


@pytest.mark.parametrize("shape", [0.3, 1.0, 2.5, 40.0])
def test_gamma_moments_match_exact_law(shape):
    x = np.asarray(sampling.gamma(jax.random.PRNGKey(0), jnp.full((400_000,), shape)), np.float64)
    se = np.sqrt(shape / 400_000)
    assert abs(x.mean() - shape) < 5 * se  # mean = shape
    assert abs(x.var() / shape - 1) < 0.03  # variance = shape
    # third central moment of Gamma(k, 1) is 2k
    assert abs(((x - x.mean()) ** 3).mean() / (2 * shape) - 1) < 0.15


def test_gamma_quantiles_match_jax_exact_sampler():
    a = jnp.full((200_000,), 1.5)
    ours = np.sort(np.asarray(sampling.gamma(jax.random.PRNGKey(1), a, shape_at_least_one=True)))
    exact = np.sort(np.asarray(jax.random.gamma(jax.random.PRNGKey(2), a)))
    qs = [0.01, 0.1, 0.5, 0.9, 0.99]
    idx = [int(q * len(ours)) for q in qs]
    np.testing.assert_allclose(ours[idx], exact[idx], rtol=0.03)


def test_beta_mean_and_variance():
    a, b = 3.0, 7.0
    x = np.asarray(sampling.beta(jax.random.PRNGKey(3), jnp.full((200_000,), a), b))
    assert abs(x.mean() - a / (a + b)) < 0.003
    assert abs(x.var() - a * b / ((a + b) ** 2 * (a + b + 1))) < 0.001
    assert x.min() > 0 and x.max() < 1
