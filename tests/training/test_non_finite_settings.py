"""Every float setting refuses inf and -inf as well as nan, in one line naming it: the run's
own settings (train.py, exit 2, nothing written) and every backbone's (its config)."""

import dataclasses
import math
import typing

import pytest

import train
from agents import BACKBONES
from infra.errors import ConfigError
from training.config import Args

FLOAT_SETTINGS = [
    f.name for f in dataclasses.fields(Args) if typing.get_type_hints(Args)[f.name] is float
]
BACKBONE_FLOATS = [
    (name, field.name)
    for name, config in BACKBONES.items()
    for field in dataclasses.fields(config)
    if isinstance(getattr(config(), field.name), float)
]


@pytest.mark.parametrize("value", ["inf", "-inf", "nan"])
@pytest.mark.parametrize("name", FLOAT_SETTINGS)
def test_a_non_finite_run_setting_is_refused(tmp_path, tiny_dataset, capsys, name, value):
    flag = "--" + name.replace("_", "-")
    argv = ["--dataset", tiny_dataset, "--out-dir", str(tmp_path / "run"), flag, value]
    assert train.main(argv) == 2
    message = capsys.readouterr().err.strip()
    assert message == f"error: {flag} must be a finite number, got {float(value)}"
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
@pytest.mark.parametrize("backbone, field", BACKBONE_FLOATS)
def test_a_non_finite_backbone_setting_is_refused(backbone, field, value):
    config = BACKBONES[backbone]
    with pytest.raises(ConfigError, match=f"^{config.__name__}.{field} must be finite"):
        config(**{field: value})


def test_there_are_float_settings_to_check():
    assert {"learning_rate", "weight_decay", "grad_clip", "return_scale"} <= set(FLOAT_SETTINGS)
    assert ("min-gru", "dropout") in BACKBONE_FLOATS
