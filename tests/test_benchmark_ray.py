"""The Ray engine on a local Ray instance (started and shut down by the engine)."""

import json
import math

import pytest

import benchmark


@pytest.mark.slow  # starting Ray takes tens of seconds on 2 cores
def test_smoke_suite_on_a_local_ray_instance(tmp_path, capsys):
    out_dir = tmp_path / "results"
    argv = ["run", "--preset", "smoke", "--out-dir", str(out_dir), "--engine", "ray"]
    assert benchmark.main([*argv, "--seeds", "0"]) == 0
    log = capsys.readouterr().out
    assert log.count("started ") == 2 and log.count("finished ") == 2
    report = json.loads((out_dir / "report.json").read_text())
    assert len(report["cells"]) == 4
    assert all(math.isfinite(cell["last"]["summary"]["mean"]) for cell in report["cells"])

    import ray

    assert not ray.is_initialized()  # the engine shut its instance down
    assert benchmark.main([*argv, "--seeds", "0", "1"]) == 0  # adding a seed: runs only it
    log = capsys.readouterr().out
    assert log.count("started ") == 2 and "__0" not in log.split("report:")[0]
