"""The score table printed in the terminal, published baselines beside."""

from rich import box
from rich.console import Console
from rich.table import Table


def print_table(report: dict, console: Console) -> None:
    several_runs = len(report["runs"]) > 1
    table = Table(
        title=f"D4RL-normalised scores ({report['env_id']})",
        box=box.SIMPLE_HEAD,
        collapse_padding=True,
    )
    for column in ("dataset", "backbone", "mode"):
        table.add_column(column, no_wrap=True)
    for column in ("target", "score") + (("95% CI",) if several_runs else ()):
        table.add_column(column, justify="right", no_wrap=True)
    for summary in report["targets"]:
        interval = ["{:.1f} to {:.1f}".format(*summary["ci95"])] if several_runs else []
        table.add_row(
            report["dataset"],
            ", ".join(report["backbones"]),
            report["mode"],
            f"{summary['target_return']:g}",
            f"{summary['normalized_score_mean']:.1f} ± {summary['normalized_score_std']:.1f}",
            *interval,
        )
    table.add_section()
    label = "published*" if report["replica"] else "published"
    for published in report["published"]:
        spread = "" if published["std"] is None else f" ± {published['std']:.1f}"
        interval = [""] if several_runs else []
        score = f"{published['mean']:.1f}{spread}"
        table.add_row(report["d4rl_counterpart"], published["method"], label, "", score, *interval)
    console.print(table)
    if report["published"] and report["replica"]:
        console.print(f"* published, on D4RL data: {report['dataset']} is this toolkit's replica.")
    spread = "the std over runs of their mean" if several_runs else "the std over episodes"
    console.print(f"± is {spread}. {report['normalization']['note']}")
    if not report["published"]:
        counterpart = report["d4rl_counterpart"] or "no D4RL counterpart"
        console.print(f"No published scores to compare with ({report['dataset']}: {counterpart}).")
