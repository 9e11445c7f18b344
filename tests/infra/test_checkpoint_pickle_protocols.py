"""A checkpoint naming code to run is refused as possibly unsafe in every pickle protocol
(0-5) and every layout (torch's zip, its older layout, a bare pickle): never called damaged,
never with advice to turn weights-only loading off, and never run."""

import os
import pickle

import pytest
import torch

from infra.checkpoint_files import CheckpointError, load_checkpoint


class RunsAShellCommand:
    """What a crafted checkpoint holds: unpickling it would call os.system."""

    def __reduce__(self):
        return os.system, ("echo this ran",)


def write(path, layout: str, protocol: int) -> None:
    payload = {"model": {}, "hook": RunsAShellCommand()}
    if layout == "pickle":
        path.write_bytes(pickle.dumps(payload, protocol=protocol))
    else:
        torch.save(
            payload, path, pickle_protocol=protocol, _use_new_zipfile_serialization=layout == "zip"
        )


@pytest.mark.filterwarnings("ignore::UserWarning")  # torch's, on the older layout
@pytest.mark.parametrize("layout", ["zip", "older torch layout", "pickle"])
@pytest.mark.parametrize("protocol", range(6))
def test_code_in_any_protocol_is_refused_as_unsafe(tmp_path, capfd, layout, protocol):
    path = tmp_path / "checkpoint.pt"
    write(path, layout, protocol)
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path)
    message = str(error.value)
    assert message.startswith(f"{path}: refused") and "\n" not in message
    assert "possibly unsafe" in message and "system" in message
    assert "corrupted" not in message and "weights_only" not in message
    assert "this ran" not in capfd.readouterr().out


def test_damaged_files_never_get_the_advice_to_turn_the_check_off(tmp_path):
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(pickle.dumps({"model": {}}, protocol=2)[:-3])  # cut before its end
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path)
    message = str(error.value)
    assert "unreadable checkpoint" in message and "weights_only" not in message
