"""Rolling a behaviour policy out in vectorised environments and recording every transition."""

import math
import multiprocessing
import os
import queue
import signal
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from datasets.errors import BuildWorkerDied
from datasets.policy import load_policy
from datasets.scripted_reach import ScriptedReacher
from envs.make import make_vector_env
from infra.environment import environment_variables
from infra.parent_death import die_with_parent

# Read by numpy's BLAS (and torch's OpenMP) when a worker process starts.
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass(frozen=True)
class Episode:
    """One episode as Gymnasium reported it: T steps, T + 1 observations (the last one is the
    observation after the final step)."""

    observations: np.ndarray  # (T + 1, obs_dim)
    actions: np.ndarray  # (T, act_dim) float32
    rewards: np.ndarray  # (T,)
    terminations: np.ndarray  # (T,) bool
    truncations: np.ndarray  # (T,) bool


@dataclass(frozen=True)
class CollectionTask:
    """Roll `policy_path` (None: uniform random actions, or the scripted controller of a memory
    task at `scripted_level`) out in `num_envs` copies of `env_id` made with `env_kwargs`.

    Each env starts new episodes until it has recorded steps / num_envs steps, and always
    finishes the episode it started: whether an episode is kept never depends on its own length
    (stopping the clock mid-run would drop long episodes more often than short ones)."""

    env_id: str
    policy_path: Path | None
    steps: int
    num_envs: int
    seed: int
    scripted_level: str | None = None
    env_kwargs: dict = field(default_factory=dict)

    @property
    def steps_per_env(self) -> int:
        return math.ceil(self.steps / self.num_envs)


def collect(task: CollectionTask, on_steps: Callable[[int], None] | None = None) -> list[Episode]:
    """Run one task; `on_steps(n)` is called with the length of every finished episode."""
    rng = np.random.default_rng(task.seed)
    policy = None if task.policy_path is None else load_policy(task.policy_path)
    if task.scripted_level is not None:
        policy = ScriptedReacher(task.scripted_level)
    envs = make_vector_env(task.env_id, task.num_envs, env_kwargs=task.env_kwargs)
    max_length = envs.get_attr("spec")[0].max_episode_steps  # the vector env's spec has none
    low, high = envs.single_action_space.low, envs.single_action_space.high
    observation_dim = envs.single_observation_space.shape[0]
    action_dim = envs.single_action_space.shape[0]
    n = task.num_envs
    rows = np.arange(n)
    # Per-env buffers of the episode in progress; position[j] = steps taken so far.
    observation_buffer = np.zeros((n, max_length, observation_dim))
    action_buffer = np.zeros((n, max_length, action_dim), dtype=np.float32)
    reward_buffer = np.zeros((n, max_length))
    termination_buffer = np.zeros((n, max_length), dtype=bool)
    truncation_buffer = np.zeros((n, max_length), dtype=bool)
    position = np.zeros(n, dtype=np.int64)
    recorded = np.zeros(n, dtype=np.int64)
    keeping = np.ones(n, dtype=bool)  # whether env j's current episode will be kept

    episodes = []
    observations, _ = envs.reset(seed=int(rng.integers(2**31 - n)))
    while keeping.any():
        if policy is None:
            actions = rng.uniform(low, high, (n, action_dim)).astype(np.float32)
        else:
            actions = policy.act(observations, rng)
        next_observations, rewards, terminations, truncations, infos = envs.step(actions)
        observation_buffer[rows, position] = observations
        action_buffer[rows, position] = actions
        reward_buffer[rows, position] = rewards
        termination_buffer[rows, position] = terminations
        truncation_buffer[rows, position] = truncations
        position += 1
        for j in np.flatnonzero(terminations | truncations):
            length = position[j]
            if keeping[j]:
                final_observation = infos["final_obs"][j]  # SAME_STEP autoreset keeps it here
                episodes.append(
                    Episode(
                        observations=np.concatenate(
                            [observation_buffer[j, :length], final_observation[None]]
                        ),  # (T + 1, obs_dim)
                        actions=action_buffer[j, :length].copy(),
                        rewards=reward_buffer[j, :length].copy(),
                        terminations=termination_buffer[j, :length].copy(),
                        truncations=truncation_buffer[j, :length].copy(),
                    )
                )
                recorded[j] += length
                keeping[j] = recorded[j] < task.steps_per_env
                if on_steps is not None:
                    on_steps(int(length))
            position[j] = 0
        observations = next_observations
    envs.close()
    return episodes


def collect_all(
    tasks: list[CollectionTask], workers: int, on_steps: Callable[[int], None]
) -> list[list[Episode]]:
    """Run tasks on `workers` processes (in this process when 1), results in task order. On any
    exception here (Ctrl-C and SIGTERM included, when the caller turns them into one), the
    workers are stopped at once rather than left to finish their tasks."""
    if workers <= 1:
        return [collect(task, on_steps) for task in tasks]
    context = multiprocessing.get_context("spawn")  # no fork of a process that may hold torch
    progress = context.Queue()
    before = set(multiprocessing.active_children())
    with _single_threaded_children():  # the workers start at the first submit
        pool = ProcessPoolExecutor(
            workers,
            mp_context=context,
            initializer=_worker_setup,
            initargs=(progress, os.getpid()),
        )
        try:
            futures = [pool.submit(_collect_reporting, task) for task in tasks]
            pending = set(futures)
            while pending:
                _drain(progress, on_steps)
                _, pending = wait(pending, timeout=0.2)
            _drain(progress, on_steps)
            return [future.result() for future in futures]
        except BaseException as error:
            for process in set(multiprocessing.active_children()) - before:  # the pool's
                process.terminate()
            if isinstance(error, BrokenProcessPool):
                raise BuildWorkerDied(
                    "a worker process building the dataset died (killed from outside, or out"
                    " of memory?); run the command again"
                ) from None
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _single_threaded_children():
    """One BLAS thread per worker: the workers already fill the cores, and a threaded BLAS
    spinning on the policy's small matrices cost several times the matmul itself."""
    return environment_variables(dict.fromkeys(BLAS_THREAD_VARIABLES, "1"))


_progress_queue = None


def _worker_setup(progress, parent_pid: int) -> None:
    global _progress_queue
    _progress_queue = progress
    # Ctrl-C reaches the whole process group: the builder alone decides what happens (it stops
    # the workers), and a worker must not print a traceback of its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(parent_pid)


def _collect_reporting(task: CollectionTask) -> list[Episode]:
    return collect(task, _progress_queue.put)


def _drain(progress, on_steps: Callable[[int], None]) -> None:
    while True:
        try:
            on_steps(progress.get_nowait())
        except queue.Empty:
            return
