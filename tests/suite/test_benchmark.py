"""benchmark.py end to end on the `smoke` preset: the report, resuming after SIGKILL, failures."""

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import benchmark
from suite.engines import run_local
from suite.pipeline import write_report
from suite.results_folder import ResultsFolder
from suite.spec import load_preset, resolve
from suite.worker import RunTask, run_one
from tests.helpers.paths import REPOSITORY
from training import args_to_dict

REPORT_FILES = [
    "report.md",
    "report.csv",
    "report.tex",
    "report.json",
    "scores.png",
    "learning_curves.png",
    "profile-recurrent.png",
    "aggregates-recurrent.png",
]


def smoke_command(out_dir: Path) -> list[str]:
    return ["run", "--preset", "smoke", "--out-dir", str(out_dir), "--workers", "2"]


@pytest.fixture(scope="module")
def smoke_results(tmp_path_factory) -> Path:
    """The smoke suite run once, uninterrupted."""
    out_dir = tmp_path_factory.mktemp("smoke") / "results"
    assert benchmark.main(smoke_command(out_dir)) == 0
    return out_dir


def cells(out_dir: Path) -> list[dict]:
    return json.loads((out_dir / "report.json").read_text())["cells"]


def test_smoke_suite_writes_the_report(smoke_results):
    for name in REPORT_FILES:
        assert (smoke_results / name).stat().st_size > 0, name
    assert not list(smoke_results.glob(".*.tmp"))  # every file written atomically
    runs = sorted(path.name for path in (smoke_results / "runs").iterdir())
    assert runs == [
        f"replica-hopper-mini-v0__{b}__{s}" for b in ("min-gru", "transformer") for s in (0, 1)
    ]
    for run in runs:
        config = json.loads((smoke_results / "runs" / run / "config.json").read_text())
        assert config["steps"] == 20 and config["backbone"]["params"]["d_model"] == 16
    assert json.loads((smoke_results / "suite.json").read_text())["name"] == "smoke"

    report = json.loads((smoke_results / "report.json").read_text())
    assert len(report["cells"]) == 2 * 2  # backbones × modes
    assert report["schema_version"] == 2
    assert report["environments"] == {"replica/hopper/mini-v0": "Hopper-v5"}
    for cell in report["cells"]:
        last, summary = cell["last"], cell["last"]["summary"]
        assert len(last["scores"]) == 2 and last["seeds"] == [0, 1]
        assert all(math.isfinite(summary[key]) for key in ("mean", "ci_low", "ci_high"))
        assert summary["ci_low"] <= summary["mean"] <= summary["ci_high"]
        if cell["mode"] == "recurrent":  # periodic evaluations run in the first mode
            assert math.isfinite(cell["best"]["summary"]["mean"])
        else:
            assert cell["best"]["summary"] is None
    assert set(report["aggregates"]["recurrent"]["last"]) == {"min-gru", "transformer"}
    markdown = (smoke_results / "report.md").read_text()
    assert "| dataset | min-gru | transformer |" in markdown and "Best periodic" in markdown
    assert "| replica/hopper/mini-v0 (Hopper-v5) |" in markdown
    # Two seeds per dataset: the report says that the bootstrap intervals understate.
    assert "understate the uncertainty" in markdown
    assert report["published"]["replica/hopper/mini-v0"]["scores"] == []  # no D4RL counterpart


def test_report_is_rerendered_without_running_anything(smoke_results, tmp_path):
    before = {p.name: p.stat().st_mtime_ns for p in (smoke_results / "runs").glob("*/*")}
    (smoke_results / "report.md").unlink()
    assert benchmark.main(["report", str(smoke_results)]) == 0
    assert (smoke_results / "report.md").is_file()
    assert {p.name: p.stat().st_mtime_ns for p in (smoke_results / "runs").glob("*/*")} == before


def test_rerunning_a_finished_suite_runs_nothing(smoke_results):
    checkpoints = {p: p.stat().st_mtime_ns for p in smoke_results.glob("runs/*/checkpoint.pt")}
    before = cells(smoke_results)
    assert benchmark.main(smoke_command(smoke_results)) == 0
    assert {p: p.stat().st_mtime_ns for p in checkpoints} == checkpoints
    assert cells(smoke_results) == before


@pytest.mark.slow  # about a minute: a killed suite and its continuation
def test_sigkill_mid_suite_then_rerun_gives_the_same_report(smoke_results, tmp_path):
    out_dir = tmp_path / "results"
    process = subprocess.Popen(
        [sys.executable, "benchmark.py", *smoke_command(out_dir)],
        cwd=REPOSITORY,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, workers included
    )
    deadline = time.monotonic() + 120
    while not list(out_dir.glob("runs/*/checkpoint.pt")) and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    steps = {path.parent.name: torch_step(path) for path in out_dir.glob("runs/*/checkpoint.pt")}
    assert not (out_dir / "report.json").exists(), "the suite was not killed mid-way"
    assert any(0 < step < 20 for step in steps.values()), "no run was killed mid-training"
    finished = {
        path: path.stat().st_mtime_ns
        for path in out_dir.glob("runs/*/checkpoint.pt")
        if steps[path.parent.name] == 20
    }

    assert benchmark.main(smoke_command(out_dir)) == 0
    assert cells(out_dir) == cells(smoke_results)
    assert {path: path.stat().st_mtime_ns for path in finished} == finished  # not trained again
    for run_dir in (out_dir / "runs").iterdir():
        if ".set-aside-" in run_dir.name:  # an attempt killed before its first checkpoint
            assert not (run_dir / "checkpoint.pt").exists()
            continue
        events = EventAccumulator(str(run_dir))
        events.Reload()
        evaluated = [event.step for event in events.Scalars("eval/normalized_score_3600")]
        assert evaluated == [10, 20], f"{run_dir.name}: evaluations repeat or are missing"


def torch_step(path: Path) -> int:
    from infra.checkpoint_files import load_checkpoint

    return load_checkpoint(path)["step"]


def test_a_failed_run_is_recorded_and_the_others_go_on(tmp_path):
    suite = resolve(load_preset("smoke"))
    results = ResultsFolder(tmp_path / "results")
    results.write_suite(suite)

    def task(seed: int, dataset: str) -> RunTask:
        name = suite.unit_name("replica/hopper/mini-v0", "min-gru", (seed,))
        args = suite.training_args(dataset, "min-gru", (seed,), results.run_dir(name))
        return RunTask(name, results.run_dir(name), args_to_dict(args), suite.eval_modes, 2, 1)

    events = []
    tasks = [task(0, "replica/hopper/mini-v0"), task(1, "replica/hopper/nothing-v0")]
    outcomes = {o.name: o for o in run_local(tasks, 2, 1, events.append)}
    assert [o.status for o in outcomes.values()].count("finished") == 1
    failed = outcomes[tasks[1].name]
    assert failed.status == "failed" and "nothing-v0" in failed.error
    assert sorted(e[0] for e in events) == ["done", "done", "started", "started"]
    recorded = json.loads((tasks[1].run_dir / "failed.json").read_text())
    assert recorded["error"] == failed.error
    assert recorded["traceback"].startswith("Traceback (most recent call last):")
    assert recorded["traceback"].rstrip().endswith(failed.error)  # the whole of it, kept

    report = write_report(results)
    where = f"runs/{tasks[1].name}/failed.json"
    failures = [(entry.run, entry.error) for entry in report.failed]
    assert failures == [(tasks[1].name, f"{failed.error} (traceback: {where})")]
    assert "## Failed runs" in (results.root / "report.md").read_text()
    assert benchmark.main(["report", str(results.root)]) == 1  # failures: exit status 1

    # A failed.json from before tracebacks were kept still reads as its line.
    (tasks[1].run_dir / "failed.json").write_text(json.dumps({"error": "OSError: disk full"}))
    assert write_report(results).failed[0].error == "OSError: disk full"


def test_a_run_resumes_from_its_checkpoint(tmp_path):
    suite = resolve(load_preset("smoke"))
    name = suite.unit_name("replica/hopper/mini-v0", "transformer", (0,))
    run_dir = tmp_path / name
    args = suite.training_args("replica/hopper/mini-v0", "transformer", (0,), run_dir)
    half = RunTask(name, run_dir, args_to_dict(args) | {"steps": 10}, ("recurrent",), 2, 1)
    whole = RunTask(name, run_dir, args_to_dict(args), ("recurrent",), 2, 1)
    run_one(half)
    (run_dir / "eval-recurrent.json").unlink()  # the evaluation of step 10, not wanted here
    outcome = run_one(whole)
    assert outcome.status == "finished" and torch_step(run_dir / "checkpoint.pt") == 20


@pytest.mark.slow  # about a minute: an interrupted suite and its continuation
def test_sigterm_stops_the_suite_and_says_how_to_continue(smoke_results, tmp_path):
    out_dir = tmp_path / "results"
    command = [sys.executable, "benchmark.py", *smoke_command(out_dir)]
    process = subprocess.Popen(command, cwd=REPOSITORY, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(out_dir.glob("runs/*/checkpoint.pt")) and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)  # to the suite alone: it stops its workers itself
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM
    again = " ".join(["python", "benchmark.py", *smoke_command(out_dir)])
    assert f"interrupted; continue with: {again}" in stderr
    assert not (out_dir / "report.json").exists()
    assert benchmark.main(smoke_command(out_dir)) == 0
    assert cells(out_dir) == cells(smoke_results)


def test_seeds_together_train_as_members_of_one_run(smoke_results, tmp_path):
    out_dir = tmp_path / "results"
    assert benchmark.main([*smoke_command(out_dir), "--seeds-together", "True"]) == 0
    runs = sorted(path.name for path in (out_dir / "runs").iterdir())
    assert runs == [f"replica-hopper-mini-v0__{b}__seeds0-1" for b in ("min-gru", "transformer")]
    assert json.loads((out_dir / "suite.json").read_text())["seeds_together"] is True
    for cell in cells(out_dir):
        assert cell["last"]["seeds"] == [0, 1] and len(set(cell["last"]["scores"])) == 2
        if cell["mode"] == "recurrent":  # each member's periodic evaluations, by its seed
            assert math.isfinite(cell["best"]["summary"]["mean"])
    # the folder keeps its layout: a later run without the flag continues it as it is
    assert benchmark.main(smoke_command(out_dir)) == 0
    assert sorted(path.name for path in (out_dir / "runs").iterdir()) == runs
    assert json.loads((smoke_results / "suite.json").read_text())["seeds_together"] is False
