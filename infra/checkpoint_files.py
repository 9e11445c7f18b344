"""Checkpoint files: written atomically, read without executing code.

A checkpoint is a dict of tensors, numbers, strings, lists and dicts only, so that
`torch.load(..., weights_only=True)` reads it. A file that names any other object is refused
as possibly unsafe (rebuilding an object runs code); a file that is not a whole pickle is
reported as damaged. The two are told apart by reading the pickle stream itself, not by the
wording of torch's message, which changes between releases."""

import pickle
import pickletools
import re
import zipfile
from pathlib import Path

import torch

from infra.atomic_files import atomic_write
from infra.error_text import first_line
from infra.errors import InputError


class CheckpointError(InputError):
    """A checkpoint that is missing, unreadable, refused or not one of ours (one line)."""


# Where torch names the global it refused ("Unsupported global: GLOBAL x.Y" in torch 2.4-2.6,
# "unsupported GLOBAL posix.system whose module ..." in 2.13): used when it is there.
_NAMED_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")
# torch's own reason for a damaged stream follows this marker, after its advice.
_UNPICKLER_REASON = "WeightsUnpickler error:"
# Globals a checkpoint of plain data names: torch's rebuild functions and storages, and
# collections.OrderedDict (state dicts).
_PLAIN_MODULES = ("torch", "collections")


def save_checkpoint(path: str | Path, payload: dict) -> None:
    """Written atomically: a crash mid-write leaves the previous checkpoint in place."""
    with atomic_write(path) as file:
        torch.save(payload, file)


def load_checkpoint(path: str | Path) -> dict:
    """The checkpoint's dict, read with weights_only=True; CheckpointError (one line) for a
    missing, damaged or refused file, or one without a 'model' entry."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for damaged or foreign files
        raise _unreadable(path, error) from error
    if not isinstance(payload, dict) or "model" not in payload:
        raise CheckpointError(f"{path}: not a checkpoint of this toolkit (no 'model' entry)")
    return payload


def _unreadable(path: Path, error: Exception) -> CheckpointError:
    """A file torch.load refused: well-formed but naming objects other than plain data
    (refused, possibly unsafe), or not a whole checkpoint (damaged)."""
    globals_named = _pickled_globals(path)
    if isinstance(error, pickle.UnpicklingError) and globals_named is not None:
        named = _NAMED_GLOBAL.search(str(error))
        foreign = [name for name in globals_named if not name.startswith(_PLAIN_MODULES)]
        what = named.group(1) if named else ", ".join(foreign) or "an object"
        return CheckpointError(
            f"{path}: refused: it holds objects other than tensors and plain values ({what}),"
            " and rebuilding them would run code from the file (possibly unsafe); not loaded"
        )
    text = str(error)
    if _UNPICKLER_REASON in text:
        text = text.split(_UNPICKLER_REASON, 1)[1]
    reason = first_line(text) or type(error).__name__
    return CheckpointError(f"{path}: unreadable checkpoint (corrupted or truncated?): {reason}")


def _pickled_globals(path: Path) -> list[str] | None:
    """The 'module.name' of every global the checkpoint's pickle stream names, read without
    unpickling anything; None when the file is not a torch zip holding a whole pickle stream."""
    try:
        with zipfile.ZipFile(path) as archive:
            name = next(n for n in archive.namelist() if n.endswith("/data.pkl"))
            stream = archive.read(name)
        names, strings = [], []
        for opcode, argument, _ in pickletools.genops(stream):
            if opcode.name == "GLOBAL":
                names.append(argument.replace(" ", "."))
            elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                names.append(f"{strings[-2]}.{strings[-1]}")
            elif isinstance(argument, str):
                strings.append(argument)
        return names
    except (zipfile.BadZipFile, StopIteration, ValueError, OSError):
        return None
