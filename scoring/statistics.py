"""Aggregating normalised scores over the episodes of one run, or over runs (seeds), into one
summary form: mean, spread, interval, and the method that gave them, in words."""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.stats


@dataclass(frozen=True)
class ScoreSummary:
    """A normalised score and its spread. The same form over the episodes of one run, over the
    runs (seeds) of a group, and in a suite's cells."""

    mean: float
    std: float
    ci_low: float | None
    """The 95% interval's ends; None where there is none (one run, or one seed)."""
    ci_high: float | None
    count: int
    """Episodes (of one run) or runs (seeds) summarised."""
    method: str
    """How std and the interval were computed, in words."""


def t_critical_95(df: int) -> float:
    """The 97.5% quantile of Student's t-distribution with `df` degrees of freedom (the factor of
    a two-sided 95% confidence interval)."""
    return float(scipy.stats.t.ppf(0.975, df))


def over_episodes(scores: Sequence[float]) -> ScoreSummary:
    """One run: mean and std (ddof 0) over its episodes; no interval (episodes of one model are
    not independent replications of the experiment)."""
    scores = np.asarray(scores, dtype=np.float64)
    method = f"std over episodes of one run ({len(scores)} episodes); no interval (one run)"
    return ScoreSummary(float(scores.mean()), float(scores.std()), None, None, len(scores), method)


def over_runs(run_means: Sequence[float]) -> ScoreSummary:
    """Several runs (seeds): mean, std (ddof 1) and the 95% t-interval of their mean scores; one
    run: its score alone."""
    means = np.asarray(run_means, dtype=np.float64)
    if len(means) == 1:
        return ScoreSummary(float(means[0]), 0.0, None, None, 1, "one seed: no spread, no interval")
    mean, std = float(means.mean()), float(means.std(ddof=1))
    half_width = t_critical_95(len(means) - 1) * std / math.sqrt(len(means))
    method = (
        f"std (ddof 1) over {len(means)} seeds and the 95% t-interval of their mean "
        f"({len(means) - 1} degrees of freedom)"
    )
    return ScoreSummary(mean, std, mean - half_width, mean + half_width, len(means), method)


def summarize(per_run_scores: Sequence[Sequence[float]]) -> ScoreSummary:
    """One target's normalised score: over episodes for one run, over run means for several."""
    if len(per_run_scores) == 1:
        return over_episodes(per_run_scores[0])
    return over_runs([float(np.mean(scores)) for scores in per_run_scores])
