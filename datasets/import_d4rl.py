"""Import a D4RL file as the Minari dataset d4rl/<env>/<level>-v2, in the Gymnasium environment
its data match (Hopper-v4, HalfCheetah-v4, Walker2d-v4: v3's model and rewards, where D4RL
collected its -v2 data, on the new MuJoCo bindings).

    python -m datasets.import_d4rl hopper_medium-v2.hdf5 --env hopper --level medium

An episode ends at the first step flagged `terminals` or `timeouts`; steps after the last such
step (a partial episode) are dropped, as CORL and d3rlpy drop them. The observation after an
episode's last step is that step's `next_observations` row; a file without next_observations
gets it recomputed: the simulator is set to the last step's recorded state (infos/qpos,
infos/qvel) and stepped with its action in the v4 environment. The description records which.
"""

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
import tyro

from datasets.build_staging import staging_folder
from datasets.collect import Episode
from datasets.d4rl_file import D4RLArrays, file_sha256, read_d4rl_file
from datasets.d4rl_names import D4RL_ENVS, D4RL_LEVELS, d4rl_dataset_id
from datasets.errors import DatasetError
from datasets.minari_store import local_root
from datasets.minari_writing import move_into_place, write_dataset
from envs.make import D4RL_ENV_IDS, make_env

# The simulator state an observation was made from may be stored as float32: an observation
# made again from it differs from the recorded one by float32 rounding at most.
STATE_TOLERANCE = 1e-4


@dataclass(frozen=True)
class ImportedDataset:
    dataset_id: str
    episodes: int
    steps: int
    dropped_steps: int
    """Steps after the file's last episode end (a partial episode), not imported."""

    def summary(self) -> str:
        return (
            f"imported {self.dataset_id}: {self.episodes} episodes, {self.steps} steps; "
            f"{self.dropped_steps} steps of a partial last episode dropped"
        )


def import_d4rl(
    path: str | Path, env: str, level: str, root: str | Path | None = None
) -> ImportedDataset:
    """Import the D4RL file at `path` as `d4rl/<env>/<level>-v2` into the Minari store `root`
    (default: the local store). Raises DatasetError (one line naming the file) for bad input;
    nothing is written to the store then. Returns an ImportedDataset."""
    path = Path(path)
    for flag, value, choices in (("--env", env, D4RL_ENVS), ("--level", level, D4RL_LEVELS)):
        if value not in choices:
            raise DatasetError(f"{path}: unknown {flag} {value!r}; expected one of {choices}")
    env_id = D4RL_ENV_IDS[env]
    dataset_id = d4rl_dataset_id(env, level)
    root = Path(root).resolve() if root is not None else local_root()  # Minari needs absolute
    _refuse_existing(path, root, dataset_id)  # before reading a large file for nothing
    probe = make_env(env_id)
    spaces = (probe.observation_space.shape[0], probe.action_space.shape[0])
    probe.close()
    arrays = read_d4rl_file(path, *spaces, f"{env_id} (--env {env})")
    episodes, dropped = _episodes(arrays, path, env_id)
    description = _description(path, env_id, dataset_id, arrays, episodes, dropped)
    with staging_folder(root, dataset_id) as staging:
        _refuse_existing(path, root, dataset_id)  # another import may have finished meanwhile
        write_dataset(
            staging,
            dataset_id,
            env_id,
            episodes,
            algorithm_name="D4RL behaviour data (imported from D4RL's file)",
            author="D4RL (Fu et al. 2020); imported by decision-backbones datasets.import_d4rl",
            description=description,
        )
        move_into_place(staging, root, dataset_id)
    return ImportedDataset(
        dataset_id, len(episodes), sum(len(e.rewards) for e in episodes), dropped
    )


def _refuse_existing(path: Path, root: Path, dataset_id: str) -> None:
    if (root / dataset_id).exists():
        raise DatasetError(
            f"{path}: dataset {dataset_id!r} already exists at {root / dataset_id}; remove it "
            f"first (`minari delete {dataset_id}`, or delete that folder)"
        )


def _episodes(arrays: D4RLArrays, path: Path, env_id: str) -> tuple[list[Episode], int]:
    """The complete episodes, and the number of steps after the last one (dropped)."""
    ends = np.flatnonzero(arrays.terminals | arrays.timeouts)  # (E,) last step of each episode
    if len(ends) == 0:
        raise DatasetError(f"{path}: no step is flagged terminals or timeouts: no whole episode")
    starts = np.concatenate([[0], ends[:-1] + 1])  # (E,)
    if arrays.next_observations is not None:
        final_observations = arrays.next_observations[ends]  # (E, obs_dim)
    else:
        final_observations = _recomputed_final_observations(arrays, ends, path, env_id)
    episodes = [
        Episode(
            observations=np.concatenate(
                [arrays.observations[start : end + 1], final[None]]
            ),  # (T + 1, obs_dim)
            actions=arrays.actions[start : end + 1],
            rewards=arrays.rewards[start : end + 1],
            terminations=arrays.terminals[start : end + 1],
            truncations=arrays.timeouts[start : end + 1],
        )
        for start, end, final in zip(starts, ends, final_observations, strict=True)
    ]
    return episodes, arrays.num_steps - int(ends[-1]) - 1


def _recomputed_final_observations(
    arrays: D4RLArrays, ends: np.ndarray, path: Path, env_id: str
) -> np.ndarray:
    """(E, obs_dim): the simulator set to each episode's last recorded state and stepped with
    its last action. The state must give back the recorded observation first, else the file's
    states are not of `env_id` and nothing is recomputed."""
    env = make_env(env_id)
    try:
        env.reset(seed=0)
        simulator = env.unwrapped
        expected = {"infos/qpos": simulator.model.nq, "infos/qvel": simulator.model.nv}
        for (key, width), states in zip(expected.items(), (arrays.qpos, arrays.qvel), strict=True):
            if states.shape[1:] != (width,):
                raise DatasetError(
                    f"{path}: {key} have shape {states.shape}; {env_id} needs (N, {width})"
                )
        finals = np.empty((len(ends), arrays.observations.shape[1]), dtype=np.float32)
        for index, step in enumerate(ends):
            simulator.set_state(arrays.qpos[step], arrays.qvel[step])
            difference = np.abs(simulator._get_obs() - arrays.observations[step]).max()
            if difference > STATE_TOLERANCE:
                raise DatasetError(
                    f"{path}: infos/qpos and infos/qvel of step {step} do not give its "
                    f"observation in {env_id} (off by {difference:.3g}); cannot recompute the "
                    "final observations"
                )
            finals[index] = simulator.step(arrays.actions[step])[0]
    finally:
        env.close()
    return finals


def _description(path, env_id, dataset_id, arrays: D4RLArrays, episodes, dropped: int) -> str:
    steps = sum(len(episode.rewards) for episode in episodes)
    if arrays.next_observations is not None:
        finals = "the next_observations row of its last step"
    else:
        finals = (
            f"recomputed (the file has no next_observations): {env_id}'s simulator set to the "
            "last step's infos/qpos and infos/qvel, then stepped with its action"
        )
    converted = ", ".join(arrays.float64_keys)
    lines = [
        f"D4RL's data, imported from {path.name} (sha256 {file_sha256(path)}) as {dataset_id}: "
        f"{len(episodes)} episodes, {steps} steps.",
        "Episodes end at the first step flagged terminals (terminations) or timeouts "
        f"(truncations); {dropped} steps after the last episode end (a partial episode) were "
        "dropped.",
        f"The observation after an episode's last step: {finals}.",
        f"Float64 arrays read as float32: {converted}." if converted else "",
        f"Collected by D4RL in old Gym's v3 environment; {env_id} keeps v3's model and rewards on "
        "the new MuJoCo bindings. Reference scores: D4RL's (d4rl/infos.py).",
    ]
    return "\n".join(line for line in lines if line)


@dataclass
class ImportArgs:
    """Import a D4RL file (HDF5) as the Minari dataset d4rl/<env>/<level>-v2, in the Gymnasium
    v4 environment D4RL's data match."""

    file: Annotated[tyro.conf.Positional[Path], tyro.conf.arg(metavar="FILE.hdf5")]
    """The D4RL file, e.g. hopper_medium-v2.hdf5 (as D4RL downloads it)."""
    env: Annotated[str, tyro.conf.arg(metavar="{" + ",".join(D4RL_ENVS) + "}")]
    """The environment the file's data come from."""
    level: Annotated[str, tyro.conf.arg(metavar="{" + ",".join(D4RL_LEVELS) + "}")]
    """D4RL's dataset level: the id becomes d4rl/<env>/<level>-v2."""


def main(argv: list[str] | None = None) -> None:
    args = tyro.cli(ImportArgs, args=argv, prog="python -m datasets.import_d4rl")
    try:
        imported = import_d4rl(args.file, args.env, args.level)
    except DatasetError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    print(imported.summary())


if __name__ == "__main__":
    main()
