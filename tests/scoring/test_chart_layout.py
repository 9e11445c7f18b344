"""The evaluation chart's layout: the normalisation note below the legend, never over it, and
the published scores inside the slot of the target they were published at, beside the runs."""

import matplotlib.pyplot as plt
import pytest
import torch
from rich.console import Console

from agents import DecisionModel, DecisionModelConfig, build_backbone, config_to_spec
from agents.checkpoint import model_payload
from infra.checkpoint_files import save_checkpoint
from scoring import evaluate_runs, load_runs
from scoring.chart import chart_figure
from scoring.published_scores import published_target


@pytest.fixture
def report(tmp_path, short_episodes):
    """Two seeds of a tiny untrained model on Hopper, as if trained on the replica of D4RL's
    hopper-medium (which has published scores), evaluated at two targets."""
    folders = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        backbone = build_backbone("min-gru", d_model=8, n_layers=1, dropout=0.0)
        model = DecisionModel(DecisionModelConfig(11, 3, context_length=4), backbone)
        dataset = {"id": "replica/hopper/medium-v0", "env_id": "Hopper-v5"}
        payload = {
            "model": model_payload(model),
            "step": 1,
            "config": {"seed": seed, "backbone": config_to_spec(backbone.config)},
            "dataset": dataset | {"ref_min_score": None, "ref_max_score": None},
        }
        (tmp_path / str(seed)).mkdir()
        save_checkpoint(tmp_path / str(seed) / "checkpoint.pt", payload)
        folders.append(tmp_path / str(seed))
    target = published_target("Hopper-v5")
    runs = load_runs(tuple(folders), torch.device("cpu"))
    return evaluate_runs(
        runs,
        episodes=1,
        target_returns=(target, 900.0),
        mode="recurrent",
        seed=0,
        console=Console(quiet=True),
    )


def test_the_note_is_below_the_legend_and_published_scores_in_their_slot(report):
    assert report.published  # the case where both matter
    figure = chart_figure(report)
    try:
        (axes,) = figure.axes
        legend = axes.get_legend().get_window_extent()
        (note,) = figure.texts
        assert note.get_window_extent().y1 <= legend.y0  # below it: no overlap
        assert report.normalization.note == note.get_text()
        slot = report.target_returns.index(published_target(report.env_id))
        groups, published = [], []
        for container in axes.containers:  # errorbar containers: (markers, caps, bars)
            x = container.lines[0].get_xdata()
            label = container.get_label()
            (published if "(published" in label else groups).append(x)
        assert published and groups
        for x in published:
            assert slot < x[0] < slot + 0.5  # inside the target's slot...
        assert sum(x[0] for x in published) / len(published) < slot + 0.3  # ...not at its edge
        assert max(x[slot] for x in groups) < min(x[0] for x in published)  # beside the runs
    finally:
        plt.close(figure)
