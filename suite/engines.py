"""Where a suite's runs execute: a local pool of worker processes, or Ray tasks on a cluster.

Both take the pending RunTasks and a callback for events ("started" or "waiting", name, detail)
/ ("done", outcome), and return the outcomes. On SIGINT/SIGTERM both stop launching runs and let
the running ones checkpoint (the training loop does that), then raise Stopped."""

import contextlib
import multiprocessing
import os
import queue
import signal
from collections.abc import Callable

import torch

from infra.environment import environment_variables
from infra.error_text import error_line
from infra.parent_death import die_with_parent, orphaned
from infra.stop_signals import stop_signals_raise, stop_signals_recorded
from suite.results_folder import record_failure
from suite.worker import RunOutcome, RunTask, run_one

Events = Callable[[tuple], None]


def default_workers(threads_per_run: int, gpus_per_run: float | None, gpus: int) -> int:
    """With `gpus` GPUs, 1 / gpus_per_run runs per GPU (one when not given); without, as many
    runs as the cores hold."""
    if gpus:
        return gpus * runs_per_gpu(gpus_per_run)
    return max(1, (os.cpu_count() or 1) // threads_per_run)


def runs_per_gpu(gpus_per_run: float | None) -> int:
    """How many runs asking for `gpus_per_run` of a GPU fit on one (1 when not given)."""
    return 1 if gpus_per_run is None else int(1 / gpus_per_run + 1e-9)


def _pool_worker(tasks, events, threads: int, parent: int) -> None:
    # kill -9 of the suite: its runs checkpoint and stop (SIGTERM) instead of training on.
    die_with_parent(parent)
    # OMP_NUM_THREADS was set in this process's environment before torch loaded (see run_local);
    # set_num_threads covers torch's own pool.
    torch.set_num_threads(threads)
    # The parent forwards SIGTERM when it is interrupted; Ctrl-C reaches it alone. Outside the
    # training loop's own handler, SIGTERM ends the run as an interruption.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    with contextlib.suppress(KeyboardInterrupt):  # stopped between runs
        for task in iter(tasks.get, None):
            if orphaned(parent):
                break
            outcome = run_one(task, events)
            if orphaned(parent):
                break
            events.put(("done", outcome))
    if orphaned(parent):
        events.cancel_join_thread()  # nobody reads the events now: exit without flushing them


def _raise_keyboard_interrupt(signal_number, frame):
    raise KeyboardInterrupt


def run_local(tasks: list[RunTask], workers: int, threads: int, on_event: Events) -> list:
    """A pool of `workers` spawned processes (fresh interpreters: no state inherited from this
    one), each running one task at a time with `threads` CPU threads. With GPUs, worker i sees
    GPU i mod #GPUs alone (CUDA_VISIBLE_DEVICES), so that workers share the GPUs evenly."""
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
        with stop_signals_raise():
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
    except BaseException:
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
    for task in tasks:
        if task.name not in outcomes:
            outcomes[task.name] = _failed(task, "worker process died", "(no traceback)")
            on_event(("done", outcomes[task.name]))
    return list(outcomes.values())


def _failed(task: RunTask, line: str, details: str) -> RunOutcome:
    """A run whose worker died without reporting: recorded as failed, as a run's own error."""
    record_failure(task.run_dir, line, details)
    return RunOutcome(task.name, "failed", error=line)


def _drain(task_queue) -> None:
    with contextlib.suppress(queue.Empty):
        while True:
            task_queue.get(timeout=0.1)


def run_ray(
    tasks: list[RunTask],
    ray,
    *,
    threads: int,
    gpus_per_run: float | None,
    max_retries: int,
    on_event: Events,
) -> list[RunOutcome]:
    """One Ray task per run, asking for `threads` CPUs and `gpus_per_run` of a GPU (default: a
    whole GPU when the cluster has GPUs), spread over the nodes. A task whose worker or node
    dies is retried, up to `max_retries` times; the retry resumes from the run's checkpoint."""
    from ray.util.queue import Queue
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    if gpus_per_run is None:
        gpus_per_run = 1 if ray.cluster_resources().get("GPU", 0) > 0 else 0
    remote_run = ray.remote(
        num_cpus=threads,
        num_gpus=gpus_per_run,
        max_retries=max_retries,
        scheduling_strategy="SPREAD",
    )(_run_on_node)
    # The events' queue lives on this node: it must outlive the loss of any other.
    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    events = Queue(actor_options={"num_cpus": 0, "scheduling_strategy": here})
    pending = {remote_run.remote(task, events): task for task in tasks}
    outcomes = []

    def forward_events():
        while not events.empty():
            on_event(events.get())

    try:
        with stop_signals_recorded() as raise_if_stopped:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
                raise_if_stopped()
                forward_events()
                for reference in ready:
                    task = pending.pop(reference)
                    try:
                        outcome = ray.get(reference)
                    except ray.exceptions.RayError as error:  # retries exhausted, or cancelled
                        outcome = _failed(task, error_line(error), str(error))
                    outcomes.append(outcome)
                    on_event(("done", outcome))
    except BaseException:
        for reference in pending:
            ray.cancel(reference)  # queued: dropped; running: KeyboardInterrupt, checkpoint kept
        with contextlib.suppress(ray.exceptions.RayError):
            ray.wait(list(pending), num_returns=len(pending), timeout=60)
        raise
    return outcomes


def _run_on_node(task: RunTask, events) -> RunOutcome:
    """run_one, saying where it runs: the node and what Ray gave the task."""
    import ray

    context = ray.get_runtime_context()
    resources = ", ".join(f"{k} {v:g}" for k, v in sorted(context.get_assigned_resources().items()))
    node = f"{ray.util.get_node_ip_address()} {context.get_node_id()[:8]}"
    return run_one(task, events, where=f"on node {node} ({resources}), ")
