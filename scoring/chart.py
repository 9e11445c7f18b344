"""The PNG chart of a report: normalised score per target return for each group of seeds, with
the scale's anchors (0 = random, 100 = expert), the training data's own mean episode and the
published scores as lines."""

import io

import numpy as np


def render_chart(report: dict) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    targets = [summary["target_return"] for summary in report["groups"][0]["targets"]]
    figure, axes = plt.subplots(figsize=(6.4, 5.6))
    drawn = _draw_groups(axes, report, plt.cm.tab10.colors)
    drawn += _draw_reference_lines(axes, report, plt.cm.Set2.colors)
    low, high = min(drawn), max(drawn)
    margin = 0.06 * (high - low)
    axes.set_ylim(low - margin, high + margin)
    axes.set_xticks(range(len(targets)), [f"{target:g}" for target in targets])
    axes.set_xlim(-0.5, len(targets) - 0.5)
    axes.set_xlabel("target return")
    axes.set_ylabel("D4RL-normalised score")
    title = (
        f"{report['dataset']} ({report['env_id']}): {report['mode']} rollouts, "
        f"{report['episodes']} episodes per run and target"
    )
    if report["published"]:
        title += f"\ndashed: published, on the D4RL data of {report['d4rl_counterpart']}"
    axes.set_title(title, fontsize=9)
    # Below the axes: inside, the legend would hide the lines it names.
    axes.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)
    if report["normalization"]["source"] == "d4rl":
        figure.text(
            0.01, 0.01, "D4RL reference returns (old Gym) on v5 envs: approximate", fontsize=6
        )
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120)
    plt.close(figure)
    return buffer.getvalue()


def _draw_groups(axes, report: dict, colors) -> list[float]:
    """Each group's score per target, side by side within each target's slot; returns the
    values drawn (error bars included)."""
    groups = report["groups"]
    slot = 0.6 / len(groups)
    drawn = []
    for number, (group, color) in enumerate(zip(groups, colors, strict=False)):
        summaries = group["targets"]
        means = np.array([summary["normalized_score_mean"] for summary in summaries])
        if len(group["runs"]) == 1:
            errors = np.array([summary["normalized_score_std"] for summary in summaries])
            spread = f"± std over {report['episodes']} episodes"
        else:
            errors = np.array([s["ci95"][1] - s["normalized_score_mean"] for s in summaries])
            spread = f"95% CI over {len(group['runs'])} seeds"
        axes.errorbar(
            np.arange(len(summaries)) + (number - (len(groups) - 1) / 2) * slot,
            means,
            yerr=errors,
            fmt="o",
            capsize=5,
            color="black" if len(groups) == 1 else color,
            label=f"{group['label']} ({spread})",
        )
        drawn += [*(means - errors), *(means + errors)]
    return drawn


def _draw_reference_lines(axes, report: dict, colors) -> list[float]:
    """0 (random) and 100 (expert), the training data's mean episode, the published scores;
    returns their values."""
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
    if report.get("dataset_score") is not None:
        score = report["dataset_score"]["normalized_score"]
        axes.axhline(
            score,
            linestyle=":",
            linewidth=1.2,
            color="tab:brown",
            label=f"training data, mean episode: {score:.1f}",
        )
        drawn.append(score)
    for published, color in zip(report["published"], colors, strict=False):
        axes.axhline(
            published["mean"],
            linestyle="--",
            linewidth=1,
            color=color,
            label=f"{published['method']}: {published['mean']:.1f}",
        )
        drawn.append(published["mean"])
    return drawn
