"""Summaries of a measurement: means with 95% confidence intervals, over tasks or over training seeds."""

from __future__ import annotations

import numpy as np

#: The confidence level, in percent, of every interval this module computes.
CI_LEVEL = 95


def mean_ci95(values, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean over ``axis`` and the half-width of its normal-approximation 95% CI (many tasks)."""
    values = np.asarray(values, dtype=np.float64)
    n = values.shape[axis]
    if n < 2:
        return values.mean(axis), np.zeros_like(values.mean(axis))
    return values.mean(axis), 1.96 * values.std(axis, ddof=1) / np.sqrt(n)


def t_quantile_975(dof: int) -> float:
    """The 97.5% quantile of Student's t with ``dof`` degrees of freedom."""
    if dof < 1:
        raise ValueError(f"need at least 1 degree of freedom, got {dof}")
    from scipy.stats import t

    return float(t.ppf(0.975, dof))


def mean_ci95_t(values, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean over ``axis`` and the half-width of its Student-t 95% CI: for a few samples, such
    as one figure per training seed (zero width for a single sample)."""
    values = np.asarray(values, dtype=np.float64)
    n = values.shape[axis]
    if n < 2:
        return values.mean(axis), np.zeros_like(values.mean(axis))
    return values.mean(axis), t_quantile_975(n - 1) * values.std(axis, ddof=1) / np.sqrt(n)
