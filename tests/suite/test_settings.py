"""A suite file takes every train.py setting under its Args name, type-checked by the same code
as train.py's flags, and results folders of the suite's earlier key names still continue."""

import dataclasses
import json
import typing

import pytest

import benchmark
from suite.results_folder import ResultsFolder
from suite.spec import PER_RUN, SETTINGS, load_preset, load_suite_file, resolve
from training.config import ARGS_FIELDS, Args


def another_value(name: str) -> tuple[str, object]:
    """A TOML value for the Args field `name` other than its default, and what it reads as."""
    annotation = typing.get_type_hints(Args)[name]
    default = getattr(Args(), name)
    if typing.get_origin(annotation) is typing.Literal:
        choice = next(c for c in annotation.__args__ if c != default)
        return f'"{choice}"', choice
    if annotation is bool:
        return str(not default).lower(), not default
    if name == "val_fraction":  # a fraction up to 0.5
        return "0.25", 0.25
    if annotation in (int, float):
        value = annotation(default * 2 + 1)
        return str(value), value
    assert name == "target_returns", f"no test value for {name}: {annotation}"
    return "[1000.0, 500.0]", (1000.0, 500.0)


@pytest.mark.parametrize("name", list(ARGS_FIELDS))
def test_every_training_setting_can_be_set_from_a_suite_file(tmp_path, capsys, name):
    path = tmp_path / "mine.toml"
    if name in PER_RUN and name not in SETTINGS:
        # Decided by the suite for each run: refused, naming the suite's own key.
        path.write_text(f'{name} = "x"\n')
        argv = ["run", "--suite", str(path), "--out-dir", str(tmp_path / "r")]
        assert benchmark.main(argv) == 2
        message = capsys.readouterr().err
        assert f"{name} is decided for each run by the suite: give {PER_RUN[name]}" in message
        assert not (tmp_path / "r").exists()
        return
    if name == "seeds":  # the suite's own key decides Args.seeds (and seed)
        path.write_text("seeds = [4, 5]\nseeds_together = true\n")
        args = resolve(load_suite_file(path)).training_args("d", "min-gru", (4, 5), tmp_path)
        assert args.seeds == (4, 5)
        return
    text, value = another_value(name)
    path.write_text(f"{name} = {text}\nsteps = 5000\n" if name != "steps" else f"steps = {text}\n")
    suite = resolve(load_suite_file(path))
    args = suite.training_args(suite.datasets[0], "min-gru", (0,), tmp_path)
    assert getattr(args, name) == value


@pytest.mark.parametrize(
    "line, expected",
    [
        ('steps = "100"', "steps: got '100' (str), expected an int"),
        ('learning_rate = "x"', "learning_rate: got 'x' (str), expected a float"),
        (
            'datasets = "replica/hopper/mini-v0"',
            "datasets: got 'replica/hopper/mini-v0' (str), expected a list of str",
        ),
        ("from_episode_start = 1", "from_episode_start: got 1 (int), expected a bool"),
        ('layout = "diagonal"', "layout: got 'diagonal' (str), expected one of 'interleaved'"),
        ("grad_clip = 0", "--grad-clip must be positive, got 0"),
        ('overrides = { s4 = { init = "bogus" } }\nbackbones = ["s4"]', "S4Config.init: got"),
    ],
)
def test_a_wrong_value_is_one_line_naming_the_key_and_nothing_is_written(
    tmp_path, capsys, line, expected
):
    path = tmp_path / "bad.toml"
    path.write_text(line + "\n")
    out_dir = tmp_path / "results"
    assert benchmark.main(["run", "--suite", str(path), "--out-dir", str(out_dir)]) == 2
    message = capsys.readouterr().err.strip()
    assert message.startswith("error: ") and "\n" not in message
    assert expected in message
    assert not out_dir.exists()


def test_a_wrong_type_from_a_flag_is_refused_the_same_way(tmp_path, capsys):
    argv = ["run", "--out-dir", str(tmp_path / "r"), "--overrides", "min-gru.scan=3"]
    assert benchmark.main(argv) == 2
    assert "MinGRUConfig.scan: got 3 (int)" in capsys.readouterr().err


def test_a_results_folder_with_the_earlier_key_names_continues(tmp_path):
    """suite.json of the smoke preset as written before the suite took train.py's names:
    `eval_episodes` was the final evaluation's, `periodic_eval_episodes` the periodic one's."""
    earlier = {
        "name": "smoke",
        "datasets": ["replica/hopper/mini-v0"],
        "backbones": ["min-gru", "transformer"],
        "seeds": [0, 1],
        "backbone_settings": {"d_model": 16, "n_layers": 1, "dropout": 0.0},
        "overrides": {"transformer": {"n_heads": 1}},
        "steps": 20,
        "batch_size": 8,
        "context_length": 5,
        "layout": "interleaved",
        "learning_rate": 0.0001,
        "warmup_steps": 5,
        "checkpoint_every": 5,
        "eval_every": 10,
        "periodic_eval_episodes": 1,
        "eval_episodes": 2,
        "eval_modes": ["recurrent", "windowed"],
        "target_returns": [3600.0],
        "bootstrap_reps": 200,
        "dataset_steps": None,
        "seeds_together": False,
    }
    results = ResultsFolder(tmp_path / "results")
    results.root.mkdir()
    (results.root / "suite.json").write_text(json.dumps(earlier))
    read = results.read_suite()
    assert read.final_eval_episodes == 2 and read.eval_episodes == 1
    smoke = dataclasses.replace(resolve(load_preset("smoke")), seeds_together=False)
    results.check_can_hold(smoke)  # the same suite: it continues
