"""Scoring trained runs: loading them, rolling them out, aggregating seeds, tables and charts.

evaluate.py is the command line over this package; the benchmark suite uses it too."""

from scoring.chart import render_chart
from scoring.grouping import RunGroup, SeedRecord, group_runs, seed_record
from scoring.report import evaluate_runs
from scoring.results import EvaluationReport, GroupSummary, RunEvaluation, TargetResult
from scoring.runs import TrainedModel, load_run, load_runs
from scoring.statistics import ScoreSummary, over_episodes, over_runs, summarize, t_critical_95
from scoring.table import print_table

__all__ = [
    "EvaluationReport",
    "GroupSummary",
    "RunEvaluation",
    "RunGroup",
    "ScoreSummary",
    "SeedRecord",
    "TargetResult",
    "TrainedModel",
    "evaluate_runs",
    "group_runs",
    "load_run",
    "load_runs",
    "over_episodes",
    "over_runs",
    "print_table",
    "render_chart",
    "seed_record",
    "summarize",
    "t_critical_95",
]
