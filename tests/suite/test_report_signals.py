"""SIGTERM while the report is written: one line saying how to render it again, exit 143."""

import os
import signal

import benchmark


def test_sigterm_while_the_report_is_written(tmp_path, monkeypatch, capsys):
    def report_interrupted(results):
        os.kill(os.getpid(), signal.SIGTERM)  # arrives while the report is being rendered
        raise AssertionError("SIGTERM did not stop the report")

    monkeypatch.setattr(benchmark, "write_report", report_interrupted)
    handler = signal.getsignal(signal.SIGTERM)  # not always the default: Ray installs its own
    assert benchmark.main(["report", str(tmp_path)]) == 128 + signal.SIGTERM
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("interrupted; render the report again with: python ")
    assert signal.getsignal(signal.SIGTERM) is handler  # handlers given back
