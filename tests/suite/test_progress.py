"""What the suite shows while it runs: a live table on a terminal, plain lines in a log."""

import io

from rich.console import Console

from suite.progress import LiveProgress, LogProgress
from suite.worker import RunOutcome

FINISHED = RunOutcome("a__min-gru__0", "finished", score=12.34, train_seconds=3.0)
FAILED = RunOutcome("a__s4__0", "failed", error="NonFiniteLoss: loss is nan at step 7")


def test_log_lines_name_each_run_event(capsys):
    progress = LogProgress()
    progress.on_event(("started", FINISHED.name))
    progress.on_event(("done", FINISHED))
    progress.on_event(("done", FAILED))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("started a__min-gru__0")
    assert "finished a__min-gru__0: score 12.3 (train 3.0 s" in lines[1]
    assert lines[2].endswith("failed a__s4__0: NonFiniteLoss: loss is nan at step 7")


def test_live_table_shows_states_steps_and_eta(tmp_path):
    names = [FINISHED.name, FAILED.name, "a__gru__0", "a__lstm__0"]
    progress = LiveProgress({name: tmp_path / name for name in names}, steps=20, workers=2)
    for name in names[:3]:
        progress.on_event(("started", name))
    progress.on_event(("done", FINISHED))
    progress.on_event(("done", FAILED))
    console = Console(file=io.StringIO(), width=120)
    console.print(progress._render())
    text = console.file.getvalue()
    assert "finished" in text and "score 12.3" in text and "NonFiniteLoss" in text
    assert "0/20" in text  # the running run, before its first checkpoint
    assert "1 failed, 1 finished, 1 pending, 1 running; ETA" in text


def test_log_lines_say_where_and_from_which_step_a_run_starts_and_what_it_waits_for(capsys):
    progress = LogProgress()
    progress.on_event(("waiting", "a__gru__0", "for pid 42, which is still writing it"))
    progress.on_event(("started", "a__gru__0", "on node 127.0.0.1 ab12cd34 (CPU 1), from step 40"))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("waiting a__gru__0 for pid 42, which is still writing it")
    assert lines[1].endswith("started a__gru__0 on node 127.0.0.1 ab12cd34 (CPU 1), from step 40")


def test_live_table_shows_a_run_that_waits(tmp_path):
    progress = LiveProgress({"a__gru__0": tmp_path / "a__gru__0"}, steps=20, workers=1)
    progress.on_event(("waiting", "a__gru__0", "for pid 42, which is still writing it"))
    console = Console(file=io.StringIO(), width=120)
    console.print(progress._render())
    assert "waiting for pid 42" in console.file.getvalue()
