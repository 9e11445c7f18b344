"""A suite with keep_best_val: each run keeps its checkpoint of lowest validation loss beside
the last, the suite evaluates it, and the report's "best" says it was chosen by that loss."""

import json

import pytest

import benchmark
from infra.checkpoint_files import load_checkpoint


@pytest.mark.slow  # a minute on two loaded cores: one run trained and evaluated twice
def test_best_column_is_the_best_validation_checkpoint_and_says_so(tmp_path):
    out_dir = tmp_path / "results"
    flags = ["--backbones", "transformer", "--seeds", "0", "--eval-modes", "recurrent"]
    flags += ["--keep-best-val", "True", "--val-every", "5", "--val-fraction", "0.05"]
    command = ["run", "--preset", "smoke", "--out-dir", str(out_dir), "--workers", "1"]
    assert benchmark.main([*command, *flags]) == 0

    (run_dir,) = (out_dir / "runs").iterdir()
    validation = json.loads((run_dir / "validation.json").read_text())
    best_step = validation["best"]["step"]
    assert load_checkpoint(run_dir / "checkpoint_best_val.pt")["step"] == best_step
    assert load_checkpoint(run_dir / "checkpoint.pt")["step"] == 20
    best_eval = json.loads((run_dir / "eval-best-val-recurrent.json").read_text())
    last_eval = json.loads((run_dir / "eval-recurrent.json").read_text())
    assert best_eval["runs"][0]["step"] == best_step

    report = json.loads((out_dir / "report.json").read_text())
    (cell,) = report["cells"]
    score = best_eval["runs"][0]["results"][0]["summary"]["mean"]
    assert cell["best"]["scores"] == [score]
    assert cell["last"]["scores"] == [last_eval["runs"][0]["results"][0]["summary"]["mean"]]
    assert "lowest held-out validation loss" in report["score_note"]
    markdown = (out_dir / "report.md").read_text()
    assert "## Best checkpoint, chosen by validation loss" in markdown
    assert markdown.index("## Last checkpoint") < markdown.index("## Best checkpoint")
