"""The PNG chart of a report: normalised score per target return for each group of seeds, with
the scale's anchors (0 = random, 100 = expert), the training data's own mean episode, and each
published score drawn, in a style of its own, at the target return it was published for."""

import io

import numpy as np

from scoring.published_scores import published_target
from scoring.results import EvaluationReport

PUBLISHED_MARKERS = ("D", "s", "^", "v", "P", "X")


def render_chart(report: EvaluationReport) -> bytes:
    import matplotlib.pyplot as plt

    figure = chart_figure(report)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120, bbox_inches="tight")  # the note below, too
    plt.close(figure)
    return buffer.getvalue()


def chart_figure(report: EvaluationReport):
    """The chart as a matplotlib Figure (its caller closes it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    targets = report.target_returns
    figure, axes = plt.subplots(figsize=(6.4, 5.6))
    # Where published scores share a target's slot, the groups move left to make room for them.
    beside = published_target(report.env_id) in targets and bool(report.published)
    drawn = _draw_groups(axes, report, plt.cm.tab10.colors, beside)
    drawn += _draw_anchors(axes, report)
    drawn += _draw_published(axes, report, plt.cm.Set2.colors)
    low, high = min(drawn), max(drawn)
    margin = 0.06 * (high - low)
    axes.set_ylim(low - margin, high + margin)
    axes.set_xticks(range(len(targets)), [f"{target:g}" for target in targets])
    axes.set_xlim(-0.5, len(targets) - 0.5)
    axes.set_xlabel("target return")
    axes.set_ylabel("D4RL-normalised score")
    title = (
        f"{report.dataset} ({report.env_id}): {report.mode} rollouts, "
        f"{report.episodes} episodes per run and target"
    )
    if report.published:
        title += f"\npublished: on D4RL's {report.d4rl_counterpart}"
        title += " (this dataset is a replica of it)" if report.replica else ""
    axes.set_title(title, fontsize=9)
    # Below the axes: inside, the legend would hide the lines it names; the note goes below it.
    legend = axes.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)
    figure.tight_layout()
    figure.canvas.draw()  # where the legend ended up
    bottom = legend.get_window_extent().transformed(figure.transFigure.inverted()).y0
    figure.text(0.01, bottom - 0.01, report.normalization.note, fontsize=6, wrap=True, va="top")
    return figure


def _draw_groups(axes, report: EvaluationReport, colors, beside: bool) -> list[float]:
    """Each group's score per target, side by side within each target's slot (its left part
    when published scores stand `beside` them); returns the values drawn (error bars included)."""
    groups = report.groups
    width, centre = (0.4, -0.15) if beside else (0.6, 0.0)
    slot = width / len(groups)
    drawn = []
    for number, (group, color) in enumerate(zip(groups, colors, strict=False)):
        summaries = [target.summary for target in group.targets]
        means = np.array([summary.mean for summary in summaries])
        if summaries[0].ci_low is None:
            errors = np.array([summary.std for summary in summaries])
            spread = f"± std over {report.episodes} episodes"
        else:
            errors = np.array([summary.ci_high - summary.mean for summary in summaries])
            spread = f"95% t-interval over {len(group.runs)} seeds"
        axes.errorbar(
            np.arange(len(summaries)) + centre + (number - (len(groups) - 1) / 2) * slot,
            means,
            yerr=errors,
            fmt="o",
            capsize=5,
            color="black" if len(groups) == 1 else color,
            label=f"{group.label} ({spread}){_success_label(group)}",
        )
        drawn += [*(means - errors), *(means + errors)]
    return drawn


def _success_label(group) -> str:
    """Memory tasks: the group's success rate at each target, for its legend entry."""
    rates = [target.success_rate for target in group.targets]
    if any(rate is None for rate in rates):
        return ""
    return "; success " + ", ".join(f"{rate.mean:.0%}" for rate in rates)


def _draw_anchors(axes, report: EvaluationReport) -> list[float]:
    """0 (random) and 100 (expert), and the training data's mean episode; returns their values."""
    for score, name in ((0.0, "random"), (100.0, "expert")):
        axes.axhline(score, color="grey", linewidth=0.8)
        axes.annotate(
            name,
            (1.0, score),
            xycoords=("axes fraction", "data"),
            xytext=(-4, 3),
            textcoords="offset points",
            ha="right",
            fontsize=7,
            color="grey",
        )
    drawn = [0.0, 100.0]
    if report.dataset_score is not None:
        score = report.dataset_score.normalized_score
        axes.axhline(
            score,
            linestyle=":",
            linewidth=1.2,
            color="tab:brown",
            label=f"training data, mean episode: {score:.1f}",
        )
        drawn.append(score)
    return drawn


def _draw_published(axes, report: EvaluationReport, colors) -> list[float]:
    """Each published score as a marker of its own, with its std where published, in the slot
    of the target it was published at; where that target was not evaluated, as a dashed line
    across. Returns the values drawn."""
    target = published_target(report.env_id)
    slot = report.target_returns.index(target) if target in report.target_returns else None
    drawn = []
    for number, (published, color) in enumerate(zip(report.published, colors, strict=False)):
        label = f"{published.method}: {published.mean:.1f} (published, target {target:g})"
        std = published.std or 0.0
        if slot is None:
            axes.axhline(published.mean, linestyle="--", linewidth=1, color=color, label=label)
        else:
            # Beside the groups, in the right part of the target's slot: a column per score.
            x = slot + 0.15 + 0.05 * number
            marker = PUBLISHED_MARKERS[number % len(PUBLISHED_MARKERS)]
            axes.errorbar(
                [x], [published.mean], yerr=[std], fmt=marker, color=color, capsize=3, label=label
            )
        drawn += [published.mean - std, published.mean + std]
    return drawn
