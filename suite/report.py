"""The suite's report: one dict (report.json) rendered as Markdown, CSV and LaTeX tables, with the
published numbers of the matching D4RL dataset beside ours."""

import csv
import dataclasses
import io
import json

from scoring.published_scores import d4rl_counterpart, is_replica, published_scores
from suite import aggregate
from suite.spec import Suite

SCORE_NOTE = (
    "D4RL-normalised score of a run = its mean over the evaluation episodes at the first target "
    "return (the environment's highest, as CORL reports). last = the final checkpoint (the "
    "headline); best = the best periodic evaluation during training (first mode only). Cells: "
    "mean over seeds ± half-width of the 95% t-interval. D4RL's reference returns were measured "
    "on old Gym v2/v3 environments: on Gymnasium v5 the scores are an approximation."
)
REPLICA_LABEL = "published, on D4RL data"


def build_report(suite: Suite, scores: dict, failed: dict[str, str]) -> dict:
    report_cells = aggregate.cells(suite, scores)
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
        dataset: {
            "d4rl_counterpart": d4rl_counterpart(dataset),
            "label": REPLICA_LABEL if is_replica(dataset) else "published",
            "scores": [dataclasses.asdict(score) for score in published_scores(dataset)],
        }
        for dataset in suite.datasets
    }
    return {
        "suite": suite.to_dict(),
        "score": SCORE_NOTE,
        "cells": report_cells,
        "aggregates": aggregates,
        "aggregates_note": (
            "IQM and mean over all runs and datasets, 95% stratified-bootstrap CIs (rliable, "
            f"{suite.bootstrap_reps} resamples); only backbones with every run scored."
        ),
        "published": published,
        "failed": [{"run": name, "error": error} for name, error in sorted(failed.items())],
    }


def format_cell(summary: dict | None) -> str:
    if summary is None or summary["mean"] is None:
        return "–"
    if summary["ci_low"] is None:
        return f"{summary['mean']:.1f}"
    return f"{summary['mean']:.1f} ± {summary['ci_high'] - summary['mean']:.1f}"


def _published_methods(report: dict) -> list[str]:
    methods = []
    for entry in report["published"].values():
        methods += [s["method"] for s in entry["scores"] if s["method"] not in methods]
    return methods


def _published_cell(report: dict, dataset: str, method: str) -> str:
    for score in report["published"][dataset]["scores"]:
        if score["method"] == method:
            return f"{score['mean']:.1f}" + (
                "" if score["std"] is None else f" ± {score['std']:.1f}"
            )
    return "n/a"


def table_rows(report: dict, mode: str, kind: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows of one table: datasets × backbones (+ published columns)."""
    suite = report["suite"]
    methods = _published_methods(report)
    replica = any(entry["label"] == REPLICA_LABEL for entry in report["published"].values())
    mark = "†" if replica else ""
    header = ["dataset", *suite["backbones"], *(f"{method}{mark}" for method in methods)]
    by_key = {(c["dataset"], c["backbone"], c["mode"]): c for c in report["cells"]}
    rows = [
        [
            dataset,
            *(
                format_cell(by_key[dataset, backbone, mode][kind])
                for backbone in suite["backbones"]
            ),
            *(_published_cell(report, dataset, method) for method in methods),
        ]
        for dataset in suite["datasets"]
    ]
    return header, rows


def _tables(report: dict):
    """(title, mode, kind) of every table worth printing."""
    modes = report["suite"]["eval_modes"]
    yield from ((f"Last checkpoint, {mode} rollouts", mode, "last") for mode in modes)
    if any(cell["best"]["mean"] is not None for cell in report["cells"]):
        yield (f"Best periodic evaluation, {modes[0]} rollouts", modes[0], "best")


def render_markdown(report: dict) -> bytes:
    suite = report["suite"]
    lines = [f"# Backbone comparison: {suite['name']}", "", report["score"], ""]
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
    lines += ["## Across datasets", "", report["aggregates_note"], ""]
    lines += ["| mode | score | backbone | IQM [95% CI] | mean [95% CI] |", "|---|---|---|---|---|"]
    for mode, kinds in report["aggregates"].items():
        for kind, backbones in kinds.items():
            for backbone, values in backbones.items():
                iqm, mean = (
                    f"{m['value']:.1f} [{m['ci_low']:.1f}, {m['ci_high']:.1f}]"
                    for m in (values["iqm"], values["mean"])
                )
                lines.append(f"| {mode} | {kind} | {backbone} | {iqm} | {mean} |")
    lines.append("")
    if report["failed"]:
        lines += ["## Failed runs", ""]
        lines += [f"- `{entry['run']}`: {entry['error']}" for entry in report["failed"]]
        lines.append("")
    return "\n".join(lines).encode()


def render_csv(report: dict) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        [
            "dataset",
            "method",
            "mode",
            "score",
            "mean",
            "ci_low",
            "ci_high",
            "std",
            "per_seed_scores",
            "source",
        ]
    )
    for cell in report["cells"]:
        for kind in aggregate.KINDS:
            summary = cell[kind]
            scores = " ".join(f"{score:.6g}" for score in summary["scores"])
            writer.writerow(
                [
                    cell["dataset"],
                    cell["backbone"],
                    cell["mode"],
                    kind,
                    summary["mean"],
                    summary["ci_low"],
                    summary["ci_high"],
                    "",
                    scores,
                    "this suite",
                ]
            )
    for dataset, entry in report["published"].items():
        for score in entry["scores"]:
            writer.writerow(
                [
                    dataset,
                    score["method"],
                    "",
                    entry["label"],
                    score["mean"],
                    "",
                    "",
                    score["std"],
                    "",
                    score["source"],
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


def render_latex(report: dict) -> bytes:
    """Booktabs tables (\\usepackage{booktabs}), one per mode and score."""
    parts = [f"% {report['score']}"]
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


def render_json(report: dict) -> bytes:
    return (json.dumps(report, indent=2) + "\n").encode()
