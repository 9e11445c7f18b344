"""Torch's thread count is sized to the cores other processes leave free, from the machine's
and the process's CPU time (here fed by hand): once at the start, or all along when asked to
adapt; it is given back when the loop ends."""

import pytest
import torch

import infra.cpu_threads
from infra.cpu_threads import ThreadsForFreeCores


class FakeMachine:
    """A clock, the machine's busy seconds and this process's, advanced by hand."""

    def __init__(self, monkeypatch, cores: int):
        self.now, self.machine, self.own = 0.0, 0.0, 0.0
        self.load_at_start = 0.0  # other processes' cores while the start is read
        monkeypatch.setattr(infra.cpu_threads, "clock", lambda: self.now)
        monkeypatch.setattr(
            infra.cpu_threads, "pause", lambda s: self.run(s, 0, self.load_at_start)
        )
        monkeypatch.setattr(infra.cpu_threads, "machine_busy_seconds", lambda: self.machine)
        monkeypatch.setattr(infra.cpu_threads, "own_busy_seconds", lambda: self.own)
        monkeypatch.setattr(infra.cpu_threads.os, "sched_getaffinity", lambda _: set(range(cores)))
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)

    def run(self, seconds: float, own_cores: float, other_cores: float) -> None:
        self.now += seconds
        self.own += seconds * own_cores
        self.machine += seconds * (own_cores + other_cores)


@pytest.fixture
def threads():
    """Four torch threads to start from; the test's count is restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(4)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("others, expected", [(0.0, 4), (1.2, 3), (3.0, 1), (4.0, 1)])
def test_the_count_is_chosen_once_at_the_start(monkeypatch, threads, others, expected):
    machine = FakeMachine(monkeypatch, cores=4)
    machine.load_at_start = others
    with ThreadsForFreeCores() as cpu_threads:
        assert torch.get_num_threads() == cpu_threads.count == expected
        for load in (0.0, 3.0, 4.0, 0.0):
            machine.run(2.0, own_cores=expected, other_cores=load)
            cpu_threads.adjust()
            assert torch.get_num_threads() == expected  # whatever the load does later
    assert torch.get_num_threads() == 4


def test_a_recorded_count_is_used_whatever_the_load(monkeypatch, threads):
    machine = FakeMachine(monkeypatch, cores=4)
    machine.load_at_start = 3.0
    with ThreadsForFreeCores(count=3) as cpu_threads:
        assert torch.get_num_threads() == cpu_threads.count == 3
    assert torch.get_num_threads() == 4


def test_adapting_follows_the_free_cores_and_gives_the_count_back(monkeypatch, threads):
    machine = FakeMachine(monkeypatch, cores=4)
    with ThreadsForFreeCores(adapt=True, every_seconds=1.0) as cpu_threads:
        machine.run(0.5, own_cores=4, other_cores=3)
        cpu_threads.adjust()
        assert torch.get_num_threads() == 4  # less than a second: nothing read yet
        machine.run(0.5, own_cores=4, other_cores=3)
        cpu_threads.adjust()
        assert torch.get_num_threads() == 1  # three cores busy elsewhere: one left
        machine.run(1.0, own_cores=1, other_cores=2.2)
        cpu_threads.adjust()
        assert torch.get_num_threads() == 2  # round(4 - 2.2)
        machine.run(1.0, own_cores=2, other_cores=0)
        cpu_threads.adjust()
        assert torch.get_num_threads() == 4  # never more than at the start
        machine.run(1.0, own_cores=4, other_cores=4)
        cpu_threads.adjust()
        assert torch.get_num_threads() == 1  # never fewer than one
    assert torch.get_num_threads() == 4  # the next loop starts with all of them


def test_a_count_the_user_fixed_is_left_alone(monkeypatch, threads):
    machine = FakeMachine(monkeypatch, cores=4)
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    machine.load_at_start = 3.0
    with ThreadsForFreeCores(adapt=True) as cpu_threads:
        machine.run(2.0, own_cores=1, other_cores=3)
        cpu_threads.adjust()
        assert not cpu_threads.adapt and torch.get_num_threads() == cpu_threads.count == 4
