"""infra/locks.py: one holder at a time across processes; a killed holder frees the lock."""

import os

import pytest

from infra.locks import LockError, acquire_lock, hold_lock, lock_holder
from tests.helpers.locks import hold_in_another_process
from tests.helpers.processes import kill


def test_second_process_is_refused_with_the_holders_pid_until_the_holder_is_killed(tmp_path):
    path = tmp_path / ".lock"
    holder = hold_in_another_process(path)
    try:
        assert lock_holder(path) == holder.pid
        with pytest.raises(LockError) as error:
            acquire_lock(path, "run folder runs/x")
        assert str(error.value) == (
            f"another process is using run folder runs/x (lock {path} held by pid {holder.pid})"
        )
    finally:
        kill(holder)
    assert path.exists() and lock_holder(path) is None  # the OS released it at the kill
    with hold_lock(path, "run folder runs/x"):
        assert lock_holder(path) == os.getpid()
    assert lock_holder(path) is None


def test_lock_is_exclusive_within_one_process_too(tmp_path):
    path = tmp_path / ".lock"
    assert lock_holder(path) is None  # no file: nobody holds it
    with hold_lock(path, "it"), pytest.raises(LockError, match="another process is using it"):
        acquire_lock(path, "it")
    acquire_lock(path, "it").release()
