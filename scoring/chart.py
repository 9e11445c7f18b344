"""The PNG chart of a report: normalised score per target return, published scores as lines."""

import io

import numpy as np


def render_chart(report: dict) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    targets = report["targets"]
    means = [summary["normalized_score_mean"] for summary in targets]
    if targets[0]["ci95"] is None:
        errors, error_label = (
            [summary["normalized_score_std"] for summary in targets],
            "± std over episodes",
        )
    else:
        errors = [summary["ci95"][1] - summary["normalized_score_mean"] for summary in targets]
        error_label = f"95% CI over {len(report['runs'])} runs"
    figure, axes = plt.subplots(figsize=(6.4, 4.4))
    positions = np.arange(len(targets))
    axes.errorbar(
        positions,
        means,
        yerr=errors,
        fmt="o",
        capsize=6,
        color="black",
        label=f"{', '.join(report['backbones'])}, {report['mode']} ({error_label})",
    )
    for published, color in zip(report["published"], plt.cm.tab10.colors, strict=False):
        axes.axhline(
            published["mean"],
            linestyle="--",
            linewidth=1,
            color=color,
            label=f"{published['method']}: {published['mean']:.1f}",
        )
    axes.set_xticks(positions, [f"{summary['target_return']:g}" for summary in targets])
    axes.set_xlim(-0.5, len(targets) - 0.5)
    axes.set_xlabel("target return")
    axes.set_ylabel("D4RL-normalised score")
    title = f"{report['dataset']} ({report['env_id']})"
    if report["published"]:
        title += f"\ndashed: published, on the D4RL data of {report['d4rl_counterpart']}"
    axes.set_title(title, fontsize=10)
    axes.legend(fontsize=7, loc="best")
    if report["normalization"]["source"] == "d4rl":
        figure.text(
            0.01, 0.01, "D4RL reference returns (old Gym) on v5 envs: approximate", fontsize=6
        )
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120)
    plt.close(figure)
    return buffer.getvalue()
