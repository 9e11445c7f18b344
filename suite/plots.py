"""The suite's PNG figures: scores per dataset, learning curves, and rliable's performance
profile and aggregate intervals. Each function returns PNG bytes (written atomically by the
caller)."""

import io
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 (the backend is chosen before pyplot loads)
import numpy as np  # noqa: E402
from rliable import plot_utils  # noqa: E402

from scoring import over_runs  # noqa: E402
from suite.dataset_preparation import memory_level  # noqa: E402
from suite.report import SuiteReport  # noqa: E402

SCORE_LABEL = "D4RL-normalised score"
MODE_HATCHES = {"recurrent": "", "windowed": "//"}


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def _references(axes) -> None:
    axes.axhline(0, color="grey", linewidth=0.8, label="random policy (0)")
    axes.axhline(100, color="grey", linewidth=0.8, linestyle=":", label="expert policy (100)")


def _grid(count: int, width: float = 4.2, height: float = 3.4):
    columns = min(count, 3)
    rows = math.ceil(count / columns)
    figure, axes = plt.subplots(
        rows, columns, figsize=(width * columns, height * rows), squeeze=False
    )
    for extra in axes.flat[count:]:
        extra.set_visible(False)
    return figure, list(axes.flat)


def _nothing_to_show(axes, reason: str) -> None:
    """An empty panel says why it is empty."""
    axes.text(0.5, 0.5, reason, ha="center", va="center", transform=axes.transAxes, fontsize=9)
    axes.set_xticks([])
    axes.set_yticks([])


def empty_chart(title: str, reason: str) -> bytes:
    """A figure that says why it has nothing to show."""
    figure, axes = plt.subplots(figsize=(6.4, 2.4))
    _nothing_to_show(axes, reason)
    axes.set_title(title, fontsize=10)
    return _png(figure)


def no_complete_backbone(report: SuiteReport) -> str:
    """Why the suite-wide charts are empty: no backbone has every run scored."""
    runs = len(report.suite.datasets) * len(report.suite.seeds)
    if report.failed:
        return (
            f"nothing to show: no backbone has all its {runs} runs scored "
            f"({len(report.failed)} run(s) failed)"
        )
    return f"nothing to show: no backbone has all its {runs} runs scored yet"


def _missing_runs(report: SuiteReport, dataset: str) -> str:
    """Why a dataset's panel has nothing: its runs failed, or none finished yet."""
    failed = sum(entry.run.startswith(dataset.replace("/", "-") + "__") for entry in report.failed)
    runs = len(report.suite.backbones) * len(report.suite.seeds)
    if failed:
        return f"nothing to show: {failed} of {runs} runs failed, none finished"
    return f"nothing to show: none of {runs} runs has finished yet"


def scores_chart(report: SuiteReport) -> bytes:
    """Bars per backbone (last checkpoint, each mode), 95% CI over seeds; one panel per dataset."""
    suite = report.suite
    figure, panels = _grid(len(suite.datasets))
    width = 0.8 / len(suite.eval_modes)
    colors = plt.cm.tab10.colors
    for axes, dataset in zip(panels, suite.datasets, strict=False):
        axes.set_title(
            dataset
            + (f" ({report.environments[dataset]})" if dataset in report.environments else ""),
            fontsize=9,
        )
        if dataset not in report.environments:
            _nothing_to_show(axes, _missing_runs(report, dataset))
            continue
        for index, mode in enumerate(suite.eval_modes):
            summaries = [
                report.cell(dataset, backbone, mode).last.summary for backbone in suite.backbones
            ]
            means = [np.nan if s is None else s.mean for s in summaries]
            errors = [0 if s is None or s.ci_low is None else s.ci_high - s.mean for s in summaries]
            positions = (
                np.arange(len(summaries)) + (index - (len(suite.eval_modes) - 1) / 2) * width
            )
            axes.bar(
                positions,
                means,
                width,
                yerr=errors,
                capsize=3,
                label=mode,
                color=colors[: len(summaries)],
                hatch=MODE_HATCHES[mode],
                edgecolor="black",
            )
        column = report.published[dataset]
        for score in column.scores[:1]:  # one line keeps it readable
            axes.axhline(
                score.mean,
                color="red",
                linestyle="--",
                linewidth=1,
                label=f"{score.method} ({column.label})",
            )
        _references(axes)
        axes.set_xticks(np.arange(len(suite.backbones)), suite.backbones, rotation=30)
        axes.set_ylabel(f"{SCORE_LABEL}\n(last checkpoint)")
        axes.legend(fontsize=6, title="hatch: rollout mode", title_fontsize=6)
    figure.suptitle("Score per dataset: mean and 95% t-interval over seeds", fontsize=10)
    return _png(figure)


def learning_curves_chart(report: SuiteReport, curves: dict) -> bytes:
    """Periodic evaluation score over training steps: mean and 95% t-interval band over seeds."""
    suite = report.suite
    figure, panels = _grid(len(suite.datasets))
    for axes, dataset in zip(panels, suite.datasets, strict=False):
        axes.set_title(dataset, fontsize=9)
        drawn = False
        for backbone in suite.backbones:
            per_seed = [dict(curves[dataset, backbone, seed]) for seed in suite.seeds]
            per_seed = [curve for curve in per_seed if curve]
            if not per_seed:
                continue
            steps = sorted(set.intersection(*(set(curve) for curve in per_seed)))
            summaries = [over_runs([c[step] for c in per_seed]) for step in steps]
            means = np.array([s.mean for s in summaries])
            (line,) = axes.plot(steps, means, marker="o", markersize=3, label=backbone)
            if len(per_seed) > 1:
                low = np.array([s.ci_low for s in summaries])
                high = np.array([s.ci_high for s in summaries])
                axes.fill_between(steps, low, high, color=line.get_color(), alpha=0.2)
            drawn = True
        if not drawn:
            reason = _missing_runs(report, dataset)
            if dataset in report.environments:
                reason = "nothing to show: no periodic evaluation was recorded (eval_episodes 0?)"
            _nothing_to_show(axes, reason)
            continue
        _references(axes)
        axes.set_xlabel("gradient steps")
        axes.set_ylabel(f"{SCORE_LABEL}\n(periodic evaluation)")
        axes.legend(fontsize=6)
    figure.suptitle(
        f"Learning curves ({suite.eval_modes[0]} rollouts): mean and 95% t-interval over seeds",
        fontsize=10,
    )
    return _png(figure)


def profile_chart(profiles: dict, profile_cis: dict, thresholds: np.ndarray, title: str) -> bytes:
    figure, axes = plt.subplots(figsize=(6.4, 4.2))
    plot_utils.plot_performance_profiles(
        profiles,
        thresholds,
        performance_profile_cis=profile_cis,
        colors=dict(zip(profiles, plt.cm.tab10.colors, strict=False)),
        xlabel=rf"{SCORE_LABEL} ($\tau$)",
        ylabel=r"fraction of runs with score > $\tau$",
        ax=axes,
        labelsize="medium",
        ticklabelsize="medium",
    )
    for x in (0, 100):
        axes.axvline(x, color="grey", linewidth=0.8)
    axes.legend(axes.lines[: len(profiles)], list(profiles), fontsize=8, loc="upper right")
    axes.set_title(f"Performance profile, {title} (95% stratified-bootstrap CIs)", fontsize=10)
    return _png(figure)


def aggregates_chart(aggregates: dict, title: str, caveats: tuple[str, ...]) -> bytes:
    """IQM and mean per backbone with their bootstrap intervals (computed by rliable), and what
    they cannot say with this many runs (`caveats`) below."""
    backbones = list(aggregates)
    figure, panels = plt.subplots(1, 2, figsize=(8.4, 1.2 + 0.45 * len(backbones)), sharey=True)
    colors = plt.cm.tab10.colors
    for axes, (metric, label) in zip(panels, (("iqm", "IQM"), ("mean", "Mean")), strict=True):
        for row, backbone in enumerate(backbones):
            value = aggregates[backbone][metric]
            axes.barh(
                row,
                value.ci_high - value.ci_low,
                left=value.ci_low,
                height=0.6,
                color=colors[row % len(colors)],
                alpha=0.75,
            )
            axes.plot([value.value] * 2, [row - 0.3, row + 0.3], color="black")
        for x in (0, 100):
            axes.axvline(x, color="grey", linewidth=0.8, linestyle=":" if x else "-")
        axes.set_title(label, fontsize=10)
        axes.set_xlabel(
            f"{SCORE_LABEL}\n(bar: 95% stratified-bootstrap CI, line: estimate)", fontsize=8
        )
    panels[0].set_yticks(range(len(backbones)), backbones)
    figure.suptitle(f"Across datasets, {title}", fontsize=10)
    figure.tight_layout()
    if caveats:
        figure.text(0.01, -0.02, "\n".join(caveats), fontsize=6, va="top", wrap=True)
    return _png(figure)


def memory_success_chart(report: SuiteReport) -> bytes:
    """Memory tasks: success rate against the delay, one line per row of the suite (mean and 95%
    t-interval over seeds, cut at 0 and 100%), one panel per rollout mode (and one for the
    longer test delay)."""
    suite = report.suite
    levels = {dataset: memory_level(dataset) for dataset in suite.datasets}
    delays = {dataset: None if level is None else level[2] for dataset, level in levels.items()}
    datasets = sorted((d for d in suite.datasets if delays[d] is not None), key=delays.get)
    panels = [(f"{mode} rollouts", mode, "success") for mode in suite.eval_modes]
    if any(cell.longer_delay.summary is not None for cell in report.cells):
        factor = suite.test_delay_factor
        panels.append((f"trained at D, tested at {factor}D", suite.eval_modes[0], "longer_delay"))
    figure, axes_list = _grid(len(panels), width=5.2, height=4.0)
    for axes, (title, mode, kind) in zip(axes_list, panels, strict=False):
        for number, backbone in enumerate(suite.backbones):
            points = [
                (delays[dataset], getattr(report.cell(dataset, backbone, mode), kind).summary)
                for dataset in datasets
            ]
            points = [(delay, summary) for delay, summary in points if summary is not None]
            if not points:
                continue
            # rows side by side around each delay (a log axis: a factor), so that bars stay apart
            spread = 1.04 ** (number - (len(suite.backbones) - 1) / 2)
            x = spread * np.array([delay for delay, _ in points], dtype=float)
            mean = np.array([100 * summary.mean for _, summary in points])
            low = np.array([100 * (s.mean if s.ci_low is None else s.ci_low) for _, s in points])
            high = np.array([100 * (s.mean if s.ci_high is None else s.ci_high) for _, s in points])
            # a rate's interval ends at 0% and 100%, whatever the t-interval says
            errors = [mean - np.clip(low, 0, 100), np.clip(high, 0, 100) - mean]
            style = "--" if "@" in backbone else "-"
            axes.errorbar(x, mean, yerr=errors, fmt=style, marker="o", markersize=4, capsize=2,
                          linewidth=1, elinewidth=0.6, label=backbone,
                          color=plt.cm.tab10(number % 10))  # fmt: skip
        axes.axhline(50, color="grey", linewidth=0.8, linestyle=":", label="chance (50%)")
        axes.axvline(20, color="grey", linewidth=0.8, label="a 20-step window")
        axes.set_xscale("log")
        ticks = sorted({20, *(delays[dataset] for dataset in datasets)})
        axes.set_xticks(ticks, [str(tick) for tick in ticks])
        axes.minorticks_off()
        axes.set_ylim(-5, 105)
        axes.set_xlabel("delay D (steps between the cue and the go flag)")
        axes.set_ylabel("success rate (%)")
        axes.set_title(f"{suite.name}: {title}", fontsize=9)
    axes_list[0].legend(fontsize=7, loc="lower left")
    return _png(figure)
