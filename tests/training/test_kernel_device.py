"""A backbone kernel that cannot run on the training device is refused by the settings' check,
in one line, before a tensor reaches it and before anything is written: Mamba's compiled CPU
scan with --device cuda (the CUDA device faked, so that this runs on any machine)."""

import pytest
import torch

import train
from agents.kernels import available
from training.config import parse_args, validate


@pytest.mark.skipif(not available.cpu_library_builds(), reason="no C++ compiler")
@pytest.mark.parametrize("device", ["cuda", "auto"])
def test_the_cpu_scan_on_cuda_is_refused_before_anything_runs(
    tmp_path, capsys, monkeypatch, device
):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    out_dir = tmp_path / "run"
    argv = ["backbone:mamba", "--backbone.scan", "cpu", "--device", device]
    assert train.main([*argv, "--out-dir", str(out_dir)]) == 2
    message = capsys.readouterr().err.strip()
    assert message == (
        f'error: --backbone.scan "cpu" runs on CPU tensors only, not cuda: use "auto" '
        f"(--device {device})"
    )
    assert not out_dir.exists()


@pytest.mark.skipif(not available.cpu_library_builds(), reason="no C++ compiler")
def test_the_cpu_scan_on_the_cpu_passes_the_check(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # cuda there, cpu chosen
    validate(parse_args(["backbone:mamba", "--backbone.scan", "cpu", "--device", "cpu"]))
