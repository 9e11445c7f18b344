"""The score table printed in the terminal: one row per group of seeds and target return,
published baselines beside."""

from rich import box
from rich.console import Console
from rich.table import Table


def print_table(report: dict, console: Console) -> None:
    groups = report["groups"]
    several_runs = any(len(group["runs"]) > 1 for group in groups)
    table = Table(
        title=f"D4RL-normalised scores ({report['env_id']})",
        box=box.SIMPLE_HEAD,
        collapse_padding=True,
    )
    table.add_column("dataset", no_wrap=True)
    table.add_column("runs")  # a group's label may be long: wrapped rather than cut
    table.add_column("mode", no_wrap=True)
    for column in ("target", "score") + (("seeds", "95% CI") if several_runs else ()):
        table.add_column(column, justify="right", no_wrap=True)
    for group in groups:
        for summary in group["targets"]:
            seeds = [str(len(group["runs"])), _interval(summary["ci95"])] if several_runs else []
            table.add_row(
                report["dataset"],
                group["label"],
                report["mode"],
                f"{summary['target_return']:g}",
                f"{summary['normalized_score_mean']:.1f} ± {summary['normalized_score_std']:.1f}",
                *seeds,
            )
        table.add_section()
    label = "published*" if report["replica"] else "published"
    for published in report["published"]:
        spread = "" if published["std"] is None else f" ± {published['std']:.1f}"
        blank = ["", ""] if several_runs else []
        score = f"{published['mean']:.1f}{spread}"
        table.add_row(report["d4rl_counterpart"], published["method"], label, "", score, *blank)
    console.print(table)
    if report["published"] and report["replica"]:
        console.print(f"* published, on D4RL data: {report['dataset']} is this toolkit's replica.")
    if not several_runs:
        spread = "the std over episodes"
    elif all(len(group["runs"]) > 1 for group in groups):
        spread = "the std over runs (seeds) of their mean"
    else:
        spread = "the std over runs (seeds) of their mean, over episodes for a single run"
    console.print(f"± is {spread}. {report['normalization']['note']}")
    if len(groups) > 1:
        console.print("The groups of runs differ in more than their seed: none is pooled.")
    if not report["published"]:
        counterpart = report["d4rl_counterpart"] or "no D4RL counterpart"
        console.print(f"No published scores to compare with ({report['dataset']}: {counterpart}).")


def _interval(ci95: list[float] | None) -> str:
    return "" if ci95 is None else "{:.1f} to {:.1f}".format(*ci95)
