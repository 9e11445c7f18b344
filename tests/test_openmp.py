"""The command lines set how OpenMP threads wait before torch loads its OpenMP runtime, unless
the user set it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra.openmp import USER_SETTINGS, brief_waiting

REPOSITORY = Path(__file__).resolve().parents[1]
PROBE = """
import json, os, sys
import infra.openmp as openmp
torch_loaded_when_called = []
brief = openmp.wait_for_work_briefly
def recording():
    torch_loaded_when_called.append("torch" in sys.modules)
    brief()
openmp.wait_for_work_briefly = recording
import {command_line}
print(json.dumps([torch_loaded_when_called, "torch" in sys.modules,
                  {{name: os.environ.get(name) for name in openmp.USER_SETTINGS}}]))
"""


def probe(command_line: str, **environment: str) -> tuple[list, bool, dict]:
    clean = {k: v for k, v in os.environ.items() if k not in USER_SETTINGS}
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(command_line=command_line)],
        env=clean | environment,
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.parametrize("command_line", ["train", "evaluate", "benchmark"])
def test_brief_waiting_is_set_before_torch_loads(command_line):
    called, torch_loaded, variables = probe(command_line)
    assert called == [False]  # torch (and libgomp with it) not loaded yet
    assert torch_loaded  # ... and loaded by the imports that follow
    assert variables["GOMP_SPINCOUNT"] == brief_waiting({})["GOMP_SPINCOUNT"]


def test_a_users_own_setting_wins():
    _, _, variables = probe("train", OMP_WAIT_POLICY="ACTIVE")
    assert variables == {"OMP_WAIT_POLICY": "ACTIVE", "GOMP_SPINCOUNT": None, "KMP_BLOCKTIME": None}
    assert brief_waiting({"GOMP_SPINCOUNT": "5"}) == {}
