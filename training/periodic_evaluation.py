"""Evaluation during training, at every --eval-every steps: inline (training waits for it), or
in a background CPU process on a snapshot of the weights while training goes on (a GPU need
not idle while MuJoCo runs). Either way the scores land in TensorBoard at the step they
belong to: eval/normalized_score_<target>, eval/return_<target>, eval/episode_length_<target>."""

import multiprocessing
import os
import signal
from concurrent.futures import Future, ProcessPoolExecutor

import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter

from agents import DecisionModel
from envs import evaluate_model, normalized_score
from envs.evaluation import Mode
from envs.normalization import ReferenceReturns
from infra.parent_death import die_with_parent


def evaluation_scalars(
    model: DecisionModel,
    *,
    env_id: str,
    targets: tuple[float, ...],
    episodes: int,
    mode: Mode,
    seed: int,
    references: ReferenceReturns,
    env_kwargs: dict | None = None,
) -> dict[str, float]:
    """TensorBoard tag -> value for one evaluation of `model` at every target return (and, for
    memory tasks, eval/success_rate_<target>)."""
    scalars = {}
    for target in targets:
        stats = evaluate_model(
            model,
            env_id=env_id,
            target_return=target,
            episodes=episodes,
            mode=mode,
            seed=seed,
            env_kwargs=env_kwargs,
        )
        scores = normalized_score(stats.returns, references.ref_min, references.ref_max)
        scalars[f"eval/normalized_score_{target:g}"] = float(scores.mean())
        if stats.success_rate is not None:
            scalars[f"eval/success_rate_{target:g}"] = stats.success_rate
        scalars[f"eval/return_{target:g}"] = float(stats.returns.mean())
        scalars[f"eval/episode_length_{target:g}"] = float(stats.lengths.mean())
    return scalars


def _evaluate_snapshots(spec: dict, state_dicts: dict, settings: dict) -> dict[str, float]:
    models = {}
    for seed, state_dict in state_dicts.items():
        models[seed] = DecisionModel.from_spec(spec)
        models[seed].load_state_dict(state_dict)
    return members_scalars(models, settings)


def members_scalars(models: dict[int | None, DecisionModel], settings: dict) -> dict[str, float]:
    """One model (seed None): its scalars. Members: each one's under `<tag>/seed_<seed>`,
    evaluated with its own seed, and their mean under `<tag>`."""
    if list(models) == [None]:
        return evaluation_scalars(models[None], **settings)
    per_member = {
        seed: evaluation_scalars(model, **{**settings, "seed": seed})
        for seed, model in models.items()
    }
    scalars = {
        f"{tag}/seed_{seed}": value
        for seed, member in per_member.items()
        for tag, value in member.items()
    }
    for tag in next(iter(per_member.values())):
        scalars[tag] = float(np.mean([member[tag] for member in per_member.values()]))
    return scalars


def _background_worker_setup(threads: int, parent_pid: int) -> None:
    # Ctrl-C reaches the whole process group: the training process decides what happens, and
    # waits for the evaluation in flight.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Killed training (kill -9) must not leave an evaluation running for nobody.
    die_with_parent(parent_pid)
    torch.set_num_threads(threads)


class PeriodicEvaluation:
    """`submit(model, step)` evaluates the model as it is now; `drain(writer)` writes the
    evaluations that have finished (inline: all of them, at once). `latest` holds the scalars
    of the last evaluation written."""

    def __init__(self, background: bool, **settings):
        self.settings = settings
        self.latest: dict[str, float] = {}
        self._pending: list[tuple[int, Future]] = []
        self._finished: list[tuple[int, dict[str, float]]] = []
        self._pool = None
        if background:
            threads = max(1, min(4, (os.cpu_count() or 2) // 2))
            self._pool = ProcessPoolExecutor(
                1,
                mp_context=multiprocessing.get_context("spawn"),  # no fork of CUDA state
                initializer=_background_worker_setup,
                initargs=(threads, os.getpid()),
            )

    def submit(self, models: dict[int | None, DecisionModel], step: int) -> None:
        """Evaluate the models (by training seed; None for a run of one model) as they are."""
        if self._pool is None:
            self._finished.append((step, members_scalars(models, self.settings)))
            return
        snapshots = {
            seed: {name: t.detach().to("cpu", copy=True) for name, t in model.state_dict().items()}
            for seed, model in models.items()
        }
        spec = next(iter(models.values())).spec()
        future = self._pool.submit(_evaluate_snapshots, spec, snapshots, self.settings)
        self._pending.append((step, future))

    def drain(self, writer: SummaryWriter, wait: bool = False) -> None:
        """Write every finished evaluation (with `wait`, after waiting for all in flight)."""
        still_pending = []
        for step, future in self._pending:
            if wait or future.done():
                self._finished.append((step, future.result()))
            else:
                still_pending.append((step, future))
        self._pending = still_pending
        for step, scalars in sorted(self._finished, key=lambda finished: finished[0]):
            for tag, value in scalars.items():
                writer.add_scalar(tag, value, step)
            self.latest = scalars
        self._finished = []

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
