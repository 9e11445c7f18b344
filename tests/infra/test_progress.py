"""infra/progress.py: plain progress lines, every tenth of the work, capped at the total."""

import io
import re

from infra.progress import ProgressDisplay, format_duration


def test_one_line_per_tenth_capped_at_the_total_then_the_real_total():
    stream = io.StringIO()
    log = ProgressDisplay("build a/b-v0", 1000, stream=stream)
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
    log = ProgressDisplay("train", 10**9, unit="steps", every_seconds=0.0, stream=stream)
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


def test_a_detail_stays_until_replaced_and_a_resumed_count_rates_only_its_own_work():
    stream = io.StringIO()
    progress = ProgressDisplay("run", 10**9, completed=10**6, every_seconds=0.0, stream=stream)
    progress.update(10**6 + 5, detail="loss 0.5")
    progress.update(10**6 + 6)
    first, second = stream.getvalue().splitlines()
    assert first.endswith(", loss 0.5") and second.endswith(", loss 0.5")
    rate = int(re.search(r", (\d+) steps/s", second)[1])
    assert rate < 10**6  # 6 steps in this process, not the million done before it
