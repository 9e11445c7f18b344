"""Compare backbones: a suite of datasets × backbones × seeds, trained and evaluated exactly as
train.py and evaluate.py do, then one report beside the published numbers.

    python benchmark.py run --preset smoke --out-dir RESULTS [--engine local|ray]
    python benchmark.py run --suite my_suite.toml --out-dir RESULTS --seeds 0 1
    python benchmark.py report RESULTS            # re-render the report, running nothing

Presets (suite/presets.toml): smoke (seconds), hopper-cpu (about an hour on a laptop), paper (the
paper's table: 3 envs × 3 levels, every registered backbone, 3 seeds, 100k steps), paper-d4rl
(the same on D4RL's own files, from --d4rl-dir, in the v4 environments their data come from).
Every setting of a preset can be overridden by its flag. Re-running a command continues its
results folder: finished runs are skipped, interrupted ones resume from their checkpoints.
"""

import dataclasses
import shlex
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import tyro

from datasets.errors import BuildWorkerDied
from infra.errors import InputError, UsageError
from infra.stop_signals import Stopped, stop_signals_raise
from suite.pipeline import Execution, run_suite, write_report
from suite.report import SuiteReport
from suite.results_folder import ResultsFolder
from suite.spec import (
    SETTINGS,
    load_preset,
    load_suite_file,
    parse_assignments,
    resolve,
    with_overrides,
)

# Flags generated from the suite's settings (suite/spec.py), so that every preset field has one.
ASSIGNMENTS = {"backbone_settings": False, "overrides": True}  # name -> keyed by backbone
SuiteFlags = dataclasses.make_dataclass(
    "SuiteFlags",
    [
        (
            name,
            Annotated[
                (tuple[str, ...] if name in ASSIGNMENTS else setting.type) | None,
                tyro.conf.arg(
                    help=setting.metadata["help"], help_behavior_hint="(default: the preset's)"
                ),
            ],
            dataclasses.field(default=None),
        )
        for name, setting in SETTINGS.items()
        if name != "name"
    ],
    frozen=True,
)


@dataclass(frozen=True)
class Run:
    """Run a suite (or continue it) and write its report into --out-dir."""

    out_dir: Path
    """Results folder: runs/, suite.json and the report (on a path every node shares, for Ray)."""
    preset: str | None = None
    """A preset of suite/presets.toml (smoke, hopper-cpu, paper, paper-d4rl); default smoke."""
    suite: Path | None = None
    """A suite file (TOML, the keys of a preset at the top level) instead of --preset."""
    settings: Annotated[SuiteFlags, tyro.conf.OmitArgPrefixes] = SuiteFlags()
    engine: Literal["local", "ray"] = "local"
    """local: a pool of worker processes on this machine. ray: one Ray task per run."""
    workers: int | None = None
    """Local runs at a time (default: 1 / --gpus-per-run per GPU, else CPU cores //
    --threads-per-run); with GPUs, worker i uses GPU i mod #GPUs."""
    threads_per_run: int = 1
    """CPU threads of each run (torch and OpenMP)."""
    gpus_per_run: float | None = None
    """Share of a GPU each run asks for, 0 < F <= 1: 1/F runs share a GPU (Ray: num_gpus=F;
    local: the default --workers). Default: a whole GPU per run when there are GPUs."""
    ray_address: str | None = None
    """Ray cluster to join: auto (the one `ray start` recorded here), host:port or
    ray://host:port (default: start a fresh local Ray instance)."""
    policies_dir: Path | None = None
    """Behaviour policies for building missing replica datasets (see datasets.build)."""
    d4rl_dir: Path | None = None
    """D4RL's files (hopper_medium-v2.hdf5, ...) to import missing d4rl/* datasets from (see
    datasets.import_d4rl)."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Where each run trains and evaluates."""


@dataclass(frozen=True)
class Report:
    """Re-render the report files of a results folder from its runs, running nothing."""

    results: tyro.conf.Positional[Path]
    """The results folder (holding suite.json)."""


def suite_of(command: Run):
    if command.preset is not None and command.suite is not None:
        raise UsageError("give --preset or --suite, not both")
    if command.suite is not None:
        suite = load_suite_file(command.suite)
    else:
        suite = load_preset(command.preset or "smoke")
    flags = dataclasses.asdict(command.settings)
    for name, keyed in ASSIGNMENTS.items():
        if flags[name] is not None:
            flags[name] = parse_assignments(flags[name], keyed)
    return resolve(with_overrides(suite, flags))


def run(command: Run) -> int:
    if command.workers is not None and command.workers <= 0:
        raise UsageError(f"--workers must be positive, got {command.workers}")
    if command.threads_per_run <= 0:
        raise UsageError(f"--threads-per-run must be positive, got {command.threads_per_run}")
    if command.gpus_per_run is not None and not 0 < command.gpus_per_run <= 1:
        raise UsageError(f"--gpus-per-run must be in (0, 1], got {command.gpus_per_run:g}")
    execution = Execution(
        command.engine,
        command.workers,
        command.threads_per_run,
        command.ray_address,
        command.policies_dir,
        command.device,
        command.gpus_per_run,
        command.d4rl_dir,
    )
    try:
        with stop_signals_raise():  # also while datasets are built and the report is written
            content = run_suite(suite_of(command), command.out_dir, execution)
    except (Stopped, KeyboardInterrupt) as interruption:
        again = shlex.join(["python", *sys.argv])
        print(f"interrupted; continue with: {again}", file=sys.stderr)
        return 128 + getattr(interruption, "signal_number", signal.SIGINT)
    print(f"report: {command.out_dir / 'report.md'}")
    return exit_status(content, command.out_dir)


def exit_status(content: SuiteReport, results: Path) -> int:
    """1 when the report lists failed runs (so `run` and `report` agree), else 0."""
    if content.failed:
        print(f"{len(content.failed)} run(s) failed; see {results / 'report.md'}", file=sys.stderr)
        return 1
    return 0


def report(command: Report) -> int:
    try:
        with stop_signals_raise():
            content = write_report(ResultsFolder(command.results))
    except Stopped as interruption:  # each report file is whole: the old one or the new one
        again = shlex.join(["python", *sys.argv])
        print(f"interrupted; render the report again with: {again}", file=sys.stderr)
        return 128 + interruption.signal_number
    print(f"report: {command.results / 'report.md'}")
    return exit_status(content, command.results)


def main(argv: list[str] | None = None) -> int:
    command = tyro.extras.subcommand_cli_from_dict(
        {"run": Run, "report": Report}, args=argv, description=__doc__
    )
    try:
        return run(command) if isinstance(command, Run) else report(command)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except BuildWorkerDied as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `benchmark.py ... | head` ends quietly
    sys.exit(main())
