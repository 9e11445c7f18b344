"""infra/progress.py: plain progress lines, every tenth of the work, capped at the total."""

import io
import re

from infra.progress import ProgressLog, format_duration


def test_one_line_per_tenth_capped_at_the_total_then_the_real_total():
    stream = io.StringIO()
    log = ProgressLog("build a/b-v0", 1000, stream=stream)
    for completed in range(0, 1100, 25):  # overshoots the total, as a build's last episodes do
        log.update(completed)
    log.finish(1083, detail="12 episodes")
    lines = stream.getvalue().splitlines()
    shown = [
        int(re.match(r"build a/b-v0: (\d+)/1000 steps, \d+ steps/s, ETA \S+$", line)[1])
        for line in lines[:-1]
    ]
    assert shown == [100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]
    assert re.fullmatch(r"build a/b-v0: 1083 steps in \S+, \d+ steps/s, 12 episodes", lines[-1])


def test_a_line_after_every_seconds_without_one():
    stream = io.StringIO()
    log = ProgressLog("train", 10**9, unit="steps", every_seconds=0.0, stream=stream)
    log.update(5, detail="loss 0.5")
    assert stream.getvalue().startswith("train: 5/1000000000 steps, ")
    assert stream.getvalue().endswith(", loss 0.5\n")


def test_durations_read_as_a_person_writes_them():
    assert [format_duration(s) for s in (45.2, 175, 3725, float("inf"))] == [
        "45s",
        "2m55s",
        "1h02m",
        "?",
    ]
