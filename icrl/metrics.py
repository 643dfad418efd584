"""Summaries over tasks: means with 95% confidence intervals."""

from __future__ import annotations

import numpy as np


def mean_ci95(values, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean over ``axis`` and the half-width of its normal-approximation 95% CI."""
    values = np.asarray(values, dtype=np.float64)
    n = values.shape[axis]
    if n < 2:
        return values.mean(axis), np.zeros_like(values.mean(axis))
    return values.mean(axis), 1.96 * values.std(axis, ddof=1) / np.sqrt(n)
