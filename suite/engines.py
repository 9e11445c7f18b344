"""Where a suite's runs execute: a local pool of worker processes, or Ray tasks on a cluster.

Both take the pending RunTasks and a callback for events ("started", name) / ("done", outcome),
and return the outcomes. On SIGINT/SIGTERM both stop launching runs and let the running ones
checkpoint (the training loop does that), then raise SuiteInterrupted."""

import contextlib
import multiprocessing
import os
import queue
import signal
import socket
from collections.abc import Callable

import torch

from infra.environment import environment_variables
from infra.error_text import error_line
from infra.errors import UsageError
from suite.worker import RunOutcome, RunTask, run_one

Events = Callable[[tuple], None]


class SuiteInterrupted(Exception):
    def __init__(self, signal_number: int):
        super().__init__(signal.Signals(signal_number).name)
        self.signal_number = signal_number


@contextlib.contextmanager
def signals_raise_interrupted():
    """SIGINT and SIGTERM raise SuiteInterrupted in the main loop (the first one only)."""

    def handler(signal_number, frame):
        for name in (signal.SIGINT, signal.SIGTERM):
            signal.signal(name, signal.SIG_IGN)  # a second signal must not cut the clean-up
        raise SuiteInterrupted(signal_number)

    previous = {name: signal.signal(name, handler) for name in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for name, action in previous.items():
            signal.signal(name, action)


def default_workers(threads_per_run: int) -> int:
    """One worker per GPU when there are GPUs, else as many as the cores hold."""
    if torch.cuda.is_available():
        return torch.cuda.device_count()
    return max(1, (os.cpu_count() or 1) // threads_per_run)


def _pool_worker(tasks, events, threads: int, parent: int) -> None:
    # OMP_NUM_THREADS was set in this process's environment before torch loaded (see run_local);
    # set_num_threads covers torch's own pool.
    torch.set_num_threads(threads)
    # The parent forwards SIGTERM when it is interrupted; Ctrl-C reaches it alone. Outside the
    # training loop's own handler, SIGTERM ends the run as an interruption.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    for task in iter(tasks.get, None):
        if os.getppid() != parent:
            return  # the suite was killed: start nothing more
        events.put(("done", run_one(task, events)))


def _raise_keyboard_interrupt(signal_number, frame):
    raise KeyboardInterrupt


def run_local(tasks: list[RunTask], workers: int, threads: int, on_event: Events) -> list:
    """A pool of `workers` spawned processes (fresh interpreters: no state inherited from this
    one), each running one task at a time with `threads` CPU threads."""
    context = multiprocessing.get_context("spawn")
    task_queue, events = context.Queue(), context.Queue()
    for task in tasks:
        task_queue.put(task)
    processes = []
    gpus = torch.cuda.device_count()
    for index in range(min(workers, len(tasks))):
        task_queue.put(None)
        environment = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        if gpus:
            environment["CUDA_VISIBLE_DEVICES"] = str(index % gpus)
        process = context.Process(
            target=_pool_worker, args=(task_queue, events, threads, os.getpid())
        )
        with environment_variables(environment):  # the child copies os.environ as it starts
            process.start()
        processes.append(process)

    outcomes: dict[str, RunOutcome] = {}
    try:
        with signals_raise_interrupted():
            while len(outcomes) < len(tasks):
                try:
                    event = events.get(timeout=0.5)
                except queue.Empty:
                    if not any(p.is_alive() for p in processes):
                        break  # every worker died (killed from outside)
                    continue
                if event[0] == "done":
                    outcomes[event[1].name] = event[1]
                on_event(event)
    except SuiteInterrupted:
        _drain(task_queue)
        for _ in processes:
            task_queue.put(None)
        for process in processes:
            if process.is_alive():
                os.kill(process.pid, signal.SIGTERM)  # training checkpoints and stops
        for process in processes:
            process.join()
        raise
    for process in processes:
        process.join()
    return [*outcomes.values(), *_lost(tasks, outcomes, on_event)]


def _lost(tasks, outcomes, on_event) -> list[RunOutcome]:
    """Runs whose worker process died without reporting: recorded as failed."""
    lost = []
    for task in tasks:
        if task.name not in outcomes:
            outcome = RunOutcome(task.name, "failed", error="worker process died")
            on_event(("done", outcome))
            lost.append(outcome)
    return lost


def _drain(task_queue) -> None:
    with contextlib.suppress(queue.Empty):
        while True:
            task_queue.get(timeout=0.1)


def connect_ray(address: str | None, repository: str):
    """ray.init joining `address` ('auto', 'host:port' or 'ray://host:port'), or a local instance
    when None. Raises UsageError when Ray is missing or the cluster cannot be reached."""
    try:
        import ray
    except ImportError:
        raise UsageError("--engine ray needs Ray: pip install ray") from None
    if address not in (None, "auto"):
        _check_reachable(address)
    # Workers import the suite from the repository, which all nodes see at the same path.
    environment = {"PYTHONPATH": repository}
    if "MINARI_DATASETS_PATH" in os.environ:
        environment["MINARI_DATASETS_PATH"] = os.environ["MINARI_DATASETS_PATH"]
    try:
        ray.init(
            address=address,
            runtime_env={"env_vars": environment},
            log_to_driver=False,
            configure_logging=False,
        )
    except ConnectionError as error:
        raise UsageError(f"--ray-address {address}: cannot connect: {error}") from None
    return ray


def _check_reachable(address: str) -> None:
    """A quick TCP check, so that a wrong address fails in seconds instead of Ray's long retry."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except (OSError, ValueError) as error:
        raise UsageError(f"--ray-address {address}: cannot connect: {error}") from None


def run_ray(
    tasks: list[RunTask], ray, threads: int, max_retries: int, on_event: Events
) -> list[RunOutcome]:
    """One Ray task per run, asking for `threads` CPUs (and a GPU when the cluster has them).
    A task whose worker or node dies is retried; the retry resumes from the run's checkpoint."""
    from ray.util.queue import Queue

    gpus = 1 if ray.cluster_resources().get("GPU", 0) > 0 else 0
    remote_run = ray.remote(num_cpus=threads, num_gpus=gpus, max_retries=max_retries)(run_one)
    events = Queue()
    pending = {remote_run.remote(task, events): task for task in tasks}
    outcomes = []

    def forward_events():
        while not events.empty():
            on_event(events.get())

    try:
        with signals_raise_interrupted():
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
                forward_events()
                for reference in ready:
                    task = pending.pop(reference)
                    try:
                        outcome = ray.get(reference)
                    except ray.exceptions.RayError as error:
                        outcome = RunOutcome(task.name, "failed", error=error_line(error))
                    outcomes.append(outcome)
                    on_event(("done", outcome))
    except SuiteInterrupted:
        for reference in pending:
            ray.cancel(reference)  # queued: dropped; running: KeyboardInterrupt, checkpoint kept
        with contextlib.suppress(ray.exceptions.RayError):
            ray.wait(list(pending), num_returns=len(pending), timeout=60)
        raise
    finally:
        ray.shutdown()
    return outcomes
