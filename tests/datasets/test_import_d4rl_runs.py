"""Imported D4RL data in use: training and evaluation in the v4 environment, beside the published
numbers without the replica label, and the paper-d4rl preset importing D4RL's files by name."""

import json
import warnings

import gymnasium
import pytest

import benchmark
import evaluate
import train
from datasets.d4rl_names import d4rl_file_name
from datasets.import_d4rl import import_d4rl
from envs.make import make_env, make_vector_env
from infra.checkpoint_files import load_checkpoint
from scoring.published_scores import published_scores
from suite.dataset_preparation import build_missing, is_available, missing_datasets
from suite.spec import load_preset, resolve
from tests.helpers.d4rl_layout import behaviour_policies, rollout, write_d4rl_file

D4RL_LEVELS_OF_THE_PAPER = ("medium", "medium-replay", "medium-expert")


@pytest.fixture(scope="session")
def d4rl_dir(tmp_path_factory):
    """Hopper and Walker2d files under D4RL's names (a few hundred steps each)."""
    policies = behaviour_policies(tmp_path_factory.mktemp("policies"))
    folder = tmp_path_factory.mktemp("d4rl")
    for env, env_id in (("hopper", "Hopper-v4"), ("walker2d", "Walker2d-v4")):
        arrays = rollout(env_id, 300, 100, 1, policies).arrays
        write_d4rl_file(folder / d4rl_file_name(env, "medium"), arrays)
    return folder


def test_training_and_evaluation_run_in_the_v4_environment(tmp_path, d4rl_dir, short_episodes):
    dataset_id = import_d4rl(d4rl_dir / "hopper_medium-v2.hdf5", "hopper", "medium").dataset_id
    run_dir = tmp_path / "run"
    tiny = ["--backbone.d-model", "16", "--backbone.n-layers", "1", "--batch-size", "4"]
    tiny += ["--context-length", "5", "--warmup-steps", "2", "--target-returns", "500"]
    assert (
        train.main(
            ["backbone:min-gru", "--dataset", dataset_id, "--out-dir", str(run_dir), *tiny]
            + ["--steps", "3", "--eval-every", "3", "--eval-episodes", "2"]
        )
        == 0
    )
    payload = load_checkpoint(run_dir / "checkpoint.pt")
    assert payload["step"] == 3 and payload["dataset"]["env_id"] == "Hopper-v4"

    evaluate.main([str(run_dir), "--episodes", "2", "--json", str(tmp_path / "eval.json")])
    report = json.loads((tmp_path / "eval.json").read_text())
    assert report["dataset"] == dataset_id and report["env_id"] == "Hopper-v4"
    assert report["d4rl_counterpart"] == "hopper-medium-v2" and not report["replica"]
    assert report["normalization"]["source"] == "d4rl"
    assert "like for like" in report["normalization"]["note"]
    assert [score["method"] for score in report["published"]][:2] == [
        "DT (CORL, last)",
        "DT (CORL, best)",
    ]
    assert all(len(result["returns"]) == 2 for result in report["runs"][0]["results"])


def test_paper_d4rl_preset_is_the_papers_table_on_d4rl_files():
    suite = resolve(load_preset("paper-d4rl"))
    paper = resolve(load_preset("paper"))
    expected = [
        f"d4rl/{env}/{level}-v2"
        for env in ("hopper", "halfcheetah", "walker2d")
        for level in D4RL_LEVELS_OF_THE_PAPER
    ]
    assert list(suite.datasets) == expected
    assert all(published_scores(dataset) for dataset in suite.datasets)
    same = {"backbones", "seeds", "steps", "eval_episodes", "eval_modes", "target_returns"}
    assert {name: getattr(suite, name) for name in same} == {
        name: getattr(paper, name) for name in same
    }


def test_missing_d4rl_datasets_are_imported_from_d4rls_file_names(d4rl_dir, capsys):
    wanted = ("d4rl/hopper/medium-v2", "d4rl/walker2d/medium-v2")
    missing = missing_datasets(wanted, None, d4rl_dir, "paper-d4rl")
    assert missing == list(wanted)
    build_missing(missing, None, None, d4rl_dir)
    assert all(is_available(dataset) for dataset in wanted)
    assert missing_datasets(wanted, None, None, "paper-d4rl") == []  # present: no files needed
    assert capsys.readouterr().err.startswith("imported d4rl/hopper/medium-v2: ")


def test_a_missing_file_or_folder_is_one_line_naming_the_file_and_the_preset(
    tmp_path, d4rl_dir, capsys
):
    out_dir = tmp_path / "results"
    argv = ["run", "--preset", "paper-d4rl", "--out-dir", str(out_dir)]
    assert benchmark.main([*argv, "--d4rl-dir", str(d4rl_dir)]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: {d4rl_dir} lacks ") and error.count("\n") == 1
    assert "suite 'paper-d4rl' imports datasets from (D4RL's own file names): " in error
    named = error.split("file names): ")[1].strip().split(", ")  # every one at once
    assert "hopper_medium_replay-v2.hdf5" in named and "walker2d_medium_replay-v2.hdf5" in named
    assert f"lacks {len(named)} D4RL file(s)" in error
    assert not any((d4rl_dir / name).exists() for name in named)
    assert benchmark.main(argv) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: 9 dataset(s) must be imported: give --d4rl-dir, a folder ")
    assert "hopper_medium-v2.hdf5, " in error and error.count(".hdf5") == 9
    assert not out_dir.exists()


def test_the_v4_environments_are_made_without_gymnasiums_out_of_date_warning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        make_env("Hopper-v4").close()
        make_vector_env("HalfCheetah-v4", 2).close()
        make_env("Walker2d-v4").close()
    assert [str(warning.message) for warning in caught] == []
    with pytest.warns(DeprecationWarning, match="Hopper-v4 is out of date"):
        gymnasium.make("Hopper-v4").close()  # Gymnasium's own warning, silenced only above
