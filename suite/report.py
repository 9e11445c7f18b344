"""The suite's report: one SuiteReport (report.json, with a schema version) rendered as Markdown,
CSV and LaTeX tables, with the published numbers of the matching D4RL dataset beside ours."""

import csv
import dataclasses
import io
import json
from dataclasses import dataclass

from scoring import EvaluationReport
from scoring.published_scores import (
    PublishedScore,
    d4rl_counterpart,
    is_replica,
    published_scores,
)
from suite import aggregate
from suite.spec import Suite

SCHEMA_VERSION = 2
SCORE_NOTE = (
    "D4RL-normalised score of a run = its mean over the evaluation episodes at the first target "
    "return (the environment's highest, as CORL reports). last = the final checkpoint (the "
    "headline); best = {best} (first mode only). Cells: mean over seeds ± half-width of the 95% "
    "t-interval over seeds (a single seed: its score, no interval). Success rate (memory tasks): "
    "the share of the last checkpoint's evaluation episodes, at the first target, that end at the "
    "cued target; cells as the scores."
)
BEST_BY = {
    False: "the best periodic evaluation during training, chosen by score",
    True: "the checkpoint with the lowest held-out validation loss, chosen without any score",
}
REPLICA_LABEL = "published, on D4RL data"


@dataclass(frozen=True)
class PublishedColumn:
    d4rl_counterpart: str | None
    label: str
    """"published", or REPLICA_LABEL beside a dataset that is this toolkit's replica."""
    scores: tuple[PublishedScore, ...]


@dataclass(frozen=True)
class FailedRun:
    run: str
    error: str


@dataclass(frozen=True)
class SuiteReport:
    """report.json: everything the report files show."""

    suite: Suite
    environments: dict[str, str]
    """{dataset: the env id its runs were evaluated in} (datasets with a finished run)."""
    score_note: str
    normalization_notes: dict[str, str]
    """{dataset: what its normalised scores compare with}."""
    cells: tuple[aggregate.Cell, ...]
    aggregates: dict
    """{mode: {kind: {backbone: {"iqm" | "mean": IntervalEstimate}}}}"""
    aggregates_note: str
    caveats: tuple[str, ...]
    """What the suite-wide statistics cannot say with this many runs."""
    published: dict[str, PublishedColumn]
    failed: tuple[FailedRun, ...]

    def cell(self, dataset: str, backbone: str, mode: str) -> aggregate.Cell:
        return next(
            c for c in self.cells if (c.dataset, c.backbone, c.mode) == (dataset, backbone, mode)
        )

    def to_json(self) -> dict:
        return {"schema_version": SCHEMA_VERSION, **dataclasses.asdict(self)}


def build_report(
    suite: Suite, scores: dict, evaluated: dict[str, EvaluationReport], failed: dict[str, str]
) -> SuiteReport:
    """`evaluated`: a finished run's evaluation per dataset (aggregate.run_scores)."""
    aggregates = {
        mode: {
            kind: aggregate.suite_aggregates(
                aggregate.score_matrices(suite, scores, mode, kind), suite.bootstrap_reps
            )
            for kind in aggregate.KINDS
        }
        for mode in suite.eval_modes
    }
    published = {
        dataset: PublishedColumn(
            d4rl_counterpart(dataset),
            REPLICA_LABEL if is_replica(dataset) else "published",
            published_scores(dataset),
        )
        for dataset in suite.datasets
    }
    return SuiteReport(
        suite=suite,
        environments={dataset: report.env_id for dataset, report in evaluated.items()},
        score_note=SCORE_NOTE.format(best=BEST_BY[suite.keep_best_val]),
        normalization_notes={
            dataset: report.normalization.note for dataset, report in evaluated.items()
        },
        cells=tuple(aggregate.cells(suite, scores)),
        aggregates=aggregates,
        aggregates_note=(
            "IQM and mean over all runs and datasets, with 95% stratified-bootstrap CIs (rliable, "
            f"{suite.bootstrap_reps} resamples); only backbones with every run scored."
        ),
        caveats=tuple(aggregate.statistics_caveats(len(suite.seeds), len(suite.datasets))),
        published=published,
        failed=tuple(FailedRun(name, error) for name, error in sorted(failed.items())),
    )


def format_cell(scores: aggregate.SeedScores, percent: bool = False) -> str:
    """mean ± half-width of the 95% interval over seeds; `percent` for a rate in [0, 1]."""
    summary = scores.summary
    if summary is None:
        return "–"
    scale, unit = (100.0, "%") if percent else (1.0, "")
    if summary.ci_low is None:
        return f"{scale * summary.mean:.1f}{unit}"
    half_width = scale * (summary.ci_high - summary.mean)
    return f"{scale * summary.mean:.1f}{unit} ± {half_width:.1f}{unit}"


def _published_methods(report: SuiteReport) -> list[str]:
    methods = []
    for column in report.published.values():
        methods += [s.method for s in column.scores if s.method not in methods]
    return methods


def _published_cell(report: SuiteReport, dataset: str, method: str) -> str:
    for score in report.published[dataset].scores:
        if score.method == method:
            return f"{score.mean:.1f}" + ("" if score.std is None else f" ± {score.std:.1f}")
    return "n/a"


def _dataset_label(report: SuiteReport, dataset: str) -> str:
    env_id = report.environments.get(dataset)
    return dataset if env_id is None else f"{dataset} ({env_id})"


def table_rows(report: SuiteReport, mode: str, kind: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows of one table: datasets × backbones (+ published columns)."""
    suite = report.suite
    methods = _published_methods(report)
    replica = any(column.label == REPLICA_LABEL for column in report.published.values())
    mark = "†" if replica else ""
    header = ["dataset", *suite.backbones, *(f"{method}{mark}" for method in methods)]
    rows = [
        [
            _dataset_label(report, dataset),
            *(
                format_cell(
                    getattr(report.cell(dataset, backbone, mode), kind),
                    percent=kind in ("success", "longer_delay"),
                )
                for backbone in suite.backbones
            ),
            *(_published_cell(report, dataset, method) for method in methods),
        ]
        for dataset in suite.datasets
    ]
    return header, rows


def _tables(report: SuiteReport):
    """(title, mode, kind) of every table worth printing."""
    modes = report.suite.eval_modes
    if any(cell.success.summary is not None for cell in report.cells):
        title = "Success rate (memory tasks), last checkpoint, {} rollouts"
        yield from ((title.format(mode), mode, "success") for mode in modes)
    if any(cell.longer_delay.summary is not None for cell in report.cells):
        factor = report.suite.test_delay_factor
        title = f"Success rate, trained at delay D, tested at {factor}D, {modes[0]} rollouts"
        yield (title, modes[0], "longer_delay")
    yield from ((f"Last checkpoint, {mode} rollouts", mode, "last") for mode in modes)
    if any(cell.best.summary is not None for cell in report.cells):
        title = (
            "Best checkpoint, chosen by validation loss"
            if report.suite.keep_best_val
            else "Best periodic evaluation, chosen by score"
        )
        yield (f"{title}, {modes[0]} rollouts", modes[0], "best")


def _interval_text(estimate) -> str:
    return f"{estimate.value:.1f} [{estimate.ci_low:.1f}, {estimate.ci_high:.1f}]"


def render_markdown(report: SuiteReport) -> bytes:
    lines = [f"# Backbone comparison: {report.suite.name}", "", report.score_note, ""]
    for title, mode, kind in _tables(report):
        header, rows = table_rows(report, mode, kind)
        lines += [f"## {title}", "", "| " + " | ".join(header) + " |"]
        lines += ["|" + "---|" * len(header)] + ["| " + " | ".join(row) + " |" for row in rows]
        lines.append("")
    if _published_methods(report):
        lines += [
            f"Published columns: mean ± std over seeds; † {REPLICA_LABEL} (the datasets here are "
            "this toolkit's replicas). Sources in scoring/published_scores.py.",
            "",
        ]
    lines += [f"- {dataset}: {note}" for dataset, note in report.normalization_notes.items()]
    lines += ["", "## Across datasets", "", report.aggregates_note, ""]
    lines += [f"Note: {caveat}" for caveat in report.caveats]
    lines += ["", "| mode | score | backbone | IQM [95% bootstrap CI] | mean [95% bootstrap CI] |"]
    lines += ["|---|---|---|---|---|"]
    for mode, kinds in report.aggregates.items():
        for kind, backbones in kinds.items():
            for backbone, values in backbones.items():
                iqm, mean = _interval_text(values["iqm"]), _interval_text(values["mean"])
                lines.append(f"| {mode} | {kind} | {backbone} | {iqm} | {mean} |")
    lines.append("")
    if report.failed:
        lines += ["## Failed runs", ""]
        lines += [f"- `{entry.run}`: {entry.error}" for entry in report.failed]
        lines.append("")
    return "\n".join(lines).encode()


def render_csv(report: SuiteReport) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        [
            "dataset",
            "env_id",
            "method",
            "mode",
            "score",
            "mean",
            "ci_low",
            "ci_high",
            "std",
            "interval",
            "per_seed_scores",
            "source",
        ]
    )
    for cell in report.cells:
        for kind in (*aggregate.KINDS, "success", "longer_delay"):
            scores = getattr(cell, kind)
            summary = scores.summary
            if kind in ("success", "longer_delay") and summary is None:
                continue  # not a memory task
            writer.writerow(
                [
                    cell.dataset,
                    report.environments.get(cell.dataset, ""),
                    cell.backbone,
                    cell.mode,
                    kind,
                    *(
                        [summary.mean, summary.ci_low, summary.ci_high, summary.std, summary.method]
                        if summary is not None
                        else [None] * 5
                    ),
                    " ".join(f"{score:.6g}" for score in scores.scores),
                    "this suite",
                ]
            )
    for dataset, column in report.published.items():
        for score in column.scores:
            writer.writerow(
                [
                    dataset,
                    "",
                    score.method,
                    "",
                    column.label,
                    score.mean,
                    "",
                    "",
                    score.std,
                    "std over the publication's seeds",
                    "",
                    score.source,
                ]
            )
    return buffer.getvalue().encode()


def _tex(text: str) -> str:
    for special, escaped in (
        ("\\", r"\textbackslash{}"),
        ("_", r"\_"),
        ("&", r"\&"),
        ("%", r"\%"),
        ("#", r"\#"),
        ("†", r"$^\dagger$"),
    ):
        text = text.replace(special, escaped)
    return text.replace("±", r"$\pm$").replace("–", "--")


def render_latex(report: SuiteReport) -> bytes:
    """Booktabs tables (\\usepackage{booktabs}), one per mode and score."""
    parts = [f"% {report.score_note}"]
    for title, mode, kind in _tables(report):
        header, rows = table_rows(report, mode, kind)
        parts += [
            r"\begin{table}[t]",
            r"\centering",
            rf"\caption{{{_tex(title)}: D4RL-normalised score, mean $\pm$ 95\% CI over seeds.}}",
            r"\begin{tabular}{l" + "r" * (len(header) - 1) + "}",
            r"\toprule",
            " & ".join(map(_tex, header)) + r" \\",
            r"\midrule",
            *(" & ".join(map(_tex, row)) + r" \\" for row in rows),
            r"\bottomrule",
            r"\end{tabular}",
            r"\end{table}",
            "",
        ]
    return "\n".join(parts).encode()


def render_json(report: SuiteReport) -> bytes:
    return (json.dumps(report.to_json(), indent=2) + "\n").encode()
