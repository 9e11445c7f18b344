"""Checkpoint files: written atomically, read without executing code.

A checkpoint is a dict of tensors, numbers, strings, lists and dicts only, so that
`torch.load(..., weights_only=True)` reads it. A file that names any other object is refused
as possibly unsafe (rebuilding an object runs code); a file that is not a whole pickle is
reported as damaged. The two are told apart by reading the pickle stream itself, not by the
wording of torch's message, which changes between releases."""

import io
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
    """A file torch.load refused: a pickle stream naming objects other than plain data
    (refused, possibly unsafe), whatever its protocol (0-5) and layout (torch's zip, its older
    layout, a bare pickle), or not a whole checkpoint (damaged)."""
    globals_named = _pickled_globals(path) or []
    foreign = [name for name in globals_named if not name.startswith(_PLAIN_MODULES)]
    if foreign:
        named = _NAMED_GLOBAL.search(str(error))
        what = named.group(1) if named and named.group(1) in foreign else ", ".join(foreign)
        return CheckpointError(
            f"{path}: refused: it holds objects other than tensors and plain values ({what}),"
            " and rebuilding them would run code from the file (possibly unsafe); not loaded"
        )
    text = str(error)
    if _UNPICKLER_REASON in text:
        text = text.split(_UNPICKLER_REASON, 1)[1]
    # torch's first sentence; what follows it is advice for torch's own users
    reason = first_line(text).split(". ", 1)[0] or type(error).__name__
    if "weights_only" in reason:  # torch's advice to turn the check off: never ours to give
        reason = "torch cannot read it as tensors and plain values"
    return CheckpointError(f"{path}: unreadable checkpoint (corrupted or truncated?): {reason}")


def _pickled_globals(path: Path) -> list[str] | None:
    """The 'module.name' of every global the checkpoint's pickle streams name, read without
    unpickling anything; None when not even one whole pickle stream is there."""
    try:
        with zipfile.ZipFile(path) as archive:
            name = next(n for n in archive.namelist() if n.endswith("/data.pkl"))
            data = archive.read(name)
    except (zipfile.BadZipFile, StopIteration):
        data = path.read_bytes()  # torch's older layout (pickles, then storages), or a pickle
    except OSError:
        return None
    return _globals_in_streams(data)


def _globals_in_streams(data: bytes) -> list[str] | None:
    """The globals named by the pickle streams at the start of `data`, one after another (the
    older layout has five before its raw storages); None when the first is not whole."""
    names: list[str] | None = None
    stream = io.BytesIO(data)
    while stream.tell() < len(data):
        found, strings = [], []
        try:
            for opcode, argument, _ in pickletools.genops(stream):
                if opcode.name in ("GLOBAL", "INST"):  # protocols 0-3: "module name"
                    found.append(argument.replace(" ", "."))
                elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:  # protocols 4-5
                    found.append(f"{strings[-2]}.{strings[-1]}")
                elif isinstance(argument, str):
                    strings.append(argument)
        except Exception:  # noqa: BLE001 (not a pickle from here on: raw storage bytes or damage)
            break
        names = (names or []) + found
    return names
