"""The score table printed in the terminal: one row per group of seeds and target return,
published baselines beside."""

from rich import box
from rich.console import Console
from rich.table import Table

from scoring.published_scores import published_target
from scoring.results import EvaluationReport
from scoring.statistics import ScoreSummary


def print_table(report: EvaluationReport, console: Console) -> None:
    several_runs = any(len(group.runs) > 1 for group in report.groups)
    memory_task = any(t.success_rate is not None for group in report.groups for t in group.targets)
    env = report.env_id + "".join(f" {key}={value}" for key, value in report.env_kwargs.items())
    table = Table(
        title=f"D4RL-normalised scores, rolled out in {env}",
        box=box.SIMPLE_HEAD,
        collapse_padding=True,
    )
    table.add_column("dataset", no_wrap=True)
    table.add_column("runs")  # a group's label may be long: wrapped rather than cut
    table.add_column("mode", no_wrap=True)
    columns = ("target", "score") + (("success",) if memory_task else ())
    for column in columns + (("seeds", "95% CI") if several_runs else ()):
        table.add_column(column, justify="right", no_wrap=True)
    filmed = any(result.videos for run in report.runs for result in run.results)
    if filmed:
        table.add_column("videos", overflow="fold")
    for group in report.groups:
        for number, target in enumerate(group.targets):
            summary = target.summary
            success = [_success(target.success_rate)] if memory_task else []
            cells = [str(len(group.runs)), _interval(summary)] if several_runs else []
            videos = [report.runs[index].results[number].videos for index in group.runs]
            cells += ["\n".join(path for paths in videos for path in paths)] if filmed else []
            table.add_row(
                report.dataset,
                group.label,
                report.mode,
                f"{target.target_return:g}",
                f"{summary.mean:.1f} ± {summary.std:.1f}",
                *success,
                *cells,
            )
        table.add_section()
    label = "published*" if report.replica else "published"
    for published in report.published:
        spread = "" if published.std is None else f" ± {published.std:.1f}"
        blank = [""] * (memory_task + 2 * several_runs + filmed)
        score = f"{published.mean:.1f}{spread}"
        target = f"{published_target(report.env_id):g}"
        table.add_row(report.d4rl_counterpart, published.method, label, target, score, *blank)
    console.print(table)
    if report.published and report.replica:
        console.print(f"* published, on D4RL data: {report.dataset} is this toolkit's replica.")
    methods = dict.fromkeys(t.summary.method for group in report.groups for t in group.targets)
    console.print(f"± and intervals: {'; '.join(methods)}.")
    console.print(report.normalization.note)
    if len(report.groups) > 1:
        console.print("The groups of runs differ in more than their seed: none is pooled.")
    if not report.published:
        counterpart = report.d4rl_counterpart or "no D4RL counterpart"
        console.print(f"No published scores to compare with ({report.dataset}: {counterpart}).")


def _success(summary: ScoreSummary | None) -> str:
    """A success rate in [0, 1] as a percentage, with its 95% interval over seeds if it has one."""
    if summary is None:
        return ""
    interval = "" if summary.ci_low is None else f" [{summary.ci_low:.0%}, {summary.ci_high:.0%}]"
    return f"{summary.mean:.0%}{interval}"


def _interval(summary: ScoreSummary) -> str:
    return "" if summary.ci_low is None else f"{summary.ci_low:.1f} to {summary.ci_high:.1f}"
