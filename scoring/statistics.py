"""Aggregating normalised scores over episodes (one run) or over runs (seeds)."""

import math

import numpy as np


def t_critical_95(df: int) -> float:
    """The 97.5% quantile of Student's t-distribution with `df` degrees of freedom (the factor of
    a two-sided 95% confidence interval), by integrating its density numerically."""
    x = np.linspace(0.0, 64.0, 640_001)  # the quantile is at most 12.71 (df = 1)
    log_norm = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    density = np.exp(log_norm - (df + 1) / 2 * np.log1p(x**2 / df))
    trapezoids = (density[1:] + density[:-1]) / 2 * x[1]  # (n - 1,) mass between grid points
    mass_from_zero = np.concatenate([[0.0], np.cumsum(trapezoids)])
    return float(np.interp(0.475, mass_from_zero, x))


def summarize(per_run_scores: list[np.ndarray]) -> dict:
    """One target's normalised score: over episodes for one run, over run means for several."""
    if len(per_run_scores) == 1:
        scores = per_run_scores[0]
        return {
            "normalized_score_mean": scores.mean(),
            "normalized_score_std": scores.std(),
            "ci95": None,
        }
    run_means = np.array([scores.mean() for scores in per_run_scores])
    mean, std = run_means.mean(), run_means.std(ddof=1)
    half_width = t_critical_95(len(run_means) - 1) * std / math.sqrt(len(run_means))
    return {
        "normalized_score_mean": mean,
        "normalized_score_std": std,
        "ci95": [mean - half_width, mean + half_width],
    }
