"""A results folder: suite.json (the resolved suite), runs/<run>/ (train.py run folders with the
suite's evaluation JSON and, for a failed run, failed.json), and the report files at the top."""

import json
import time
from pathlib import Path

from infra.atomic_files import atomic_write, write_json
from infra.checkpoint_files import CheckpointError, load_checkpoint
from infra.errors import UsageError
from infra.locks import Lock, acquire_lock
from scoring import EvaluationReport
from suite.spec import Suite, check_same_suite, suite_from_mapping, translated_keys
from training.validation import BEST_CHECKPOINT_NAME

SUITE_FILE = "suite.json"
FAILED_FILE = "failed.json"
LOCK_FILE = ".lock"  # held by the suite writing the folder (infra/locks.py)


class ResultsFolder:
    def __init__(self, root: Path):
        self.root = root

    def run_dir(self, run_name: str) -> Path:
        return self.root / "runs" / run_name

    def read_suite(self) -> Suite:
        path = self.root / SUITE_FILE
        if not path.is_file():
            raise UsageError(f"{self.root}: no {SUITE_FILE} (not a results folder of benchmark.py)")
        try:
            mapping = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise UsageError(f"{path}: unreadable: {error}") from None
        return suite_from_mapping(
            mapping.get("name", "custom"), translated_keys(mapping), str(path)
        )

    def saved_suite(self) -> Suite | None:
        """The suite this folder holds; None for a new folder."""
        return self.read_suite() if (self.root / SUITE_FILE).is_file() else None

    def check_can_hold(self, suite: Suite) -> None:
        """Refuse a folder holding something else, or the results of a different suite."""
        if (self.root / SUITE_FILE).is_file():
            check_same_suite(self.read_suite(), suite, self.root)
        elif self.root.exists() and (
            not self.root.is_dir() or any(p.name != LOCK_FILE for p in self.root.iterdir())
        ):
            raise UsageError(f"--out-dir {self.root} holds other files; give a new or empty folder")

    def lock(self) -> Lock:
        """Held while a suite writes the folder: a second suite on it gets one line."""
        self.root.mkdir(parents=True, exist_ok=True)
        return acquire_lock(self.root / LOCK_FILE, f"results folder {self.root}")

    def write_suite(self, suite: Suite) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        write_json(self.root / SUITE_FILE, suite.to_dict())

    def write_report_file(self, name: str, content: bytes) -> None:
        with atomic_write(self.root / name) as file:
            file.write(content)


def eval_path(run_dir: Path, mode: str, best_val: bool = False) -> Path:
    """The evaluation of the last checkpoint, or with `best_val` of the checkpoint with the
    lowest validation loss (train.py --keep-best-val)."""
    return run_dir / f"eval-{'best-val-' if best_val else ''}{mode}.json"


def best_val_checkpoint(run_dir: Path) -> Path | None:
    """The run's checkpoint at its lowest validation loss, if it kept one."""
    path = run_dir / BEST_CHECKPOINT_NAME
    return path if path.is_file() else None


class UnreadableRun(UsageError):
    """A run folder whose checkpoint cannot be read: kept as it is, for its user to decide."""


def longer_delay_path(run_dir: Path, mode: str, factor: int) -> Path:
    """A memory-task run's evaluation at `factor` times its training delay."""
    return run_dir / f"eval-{mode}-delay-x{factor}.json"


def trained_steps(run_dir: Path) -> int:
    """The step of the run's last checkpoint; 0 when there is none. UnreadableRun when there
    is one that cannot be read: the folder may hold a finished run's results, so the suite
    leaves it alone and says what the user can do."""
    path = run_dir / "checkpoint.pt"
    if not path.exists():
        return 0
    try:
        return load_checkpoint(path)["step"]
    except CheckpointError as error:
        raise UnreadableRun(
            f"{error}; the run folder is kept as it is: to train this run again from step 0,"
            f" move the folder aside (mv {run_dir} {run_dir}.unreadable) or delete it, then run"
            " the same command again"
        ) from error


def is_complete(run_dir: Path, suite: Suite) -> bool:
    """Trained to the end and evaluated in every mode (and its best-validation checkpoint in
    the first): nothing left to do. A run whose checkpoint is unreadable is not: its task
    reports it as failed."""
    best_val_missing = (
        suite.keep_best_val
        and best_val_checkpoint(run_dir) is not None
        and not eval_path(run_dir, suite.eval_modes[0], best_val=True).is_file()
    )
    if best_val_missing or not all(eval_path(run_dir, mode).is_file() for mode in suite.eval_modes):
        return False
    try:
        return trained_steps(run_dir) == suite.steps
    except UnreadableRun:
        return False


def set_aside_earlier_attempt(run_dir: Path) -> Path | None:
    """A run folder without a checkpoint that holds files (an attempt killed before its first
    checkpoint, or files a user put there) is renamed to `<run>.set-aside-<UTC time>`, never
    deleted, so that the run starts in an empty folder; returns the new name, or None when
    there was nothing to keep."""
    kept = (LOCK_FILE, FAILED_FILE)
    if not run_dir.is_dir() or all(path.name in kept for path in run_dir.iterdir()):
        return None
    aside = run_dir.with_name(
        f"{run_dir.name}.set-aside-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
    )
    run_dir.rename(aside)
    return aside


def record_failure(run_dir: Path, line: str, details: str) -> None:
    """failed.json: the error's line and its whole traceback (or whatever else tells why)."""
    run_dir.mkdir(parents=True, exist_ok=True)  # it may have failed before training
    write_json(run_dir / FAILED_FILE, {"error": line, "traceback": details})


def clear_failure(run_dir: Path) -> None:
    """A run tried again, or finished after all, is no longer failed."""
    (run_dir / FAILED_FILE).unlink(missing_ok=True)


def failure(run_dir: Path) -> str | None:
    """The error line of a run that failed, with where its traceback is; None otherwise. A
    failed.json written before tracebacks were kept holds the line alone."""
    path = run_dir / FAILED_FILE
    if not path.is_file():
        return None
    recorded = json.loads(path.read_text())
    if "traceback" not in recorded:
        return recorded["error"]
    return f"{recorded['error']} (traceback: {run_dir.parent.name}/{run_dir.name}/{FAILED_FILE})"


def read_evaluation(run_dir: Path, mode: str, best_val: bool = False) -> EvaluationReport:
    """The run's final evaluation in `mode` (written by the suite's worker); with `best_val`,
    that of its checkpoint at the lowest validation loss."""
    return read_evaluation_file(eval_path(run_dir, mode, best_val))


def read_evaluation_file(path: Path) -> EvaluationReport:
    return EvaluationReport.from_json(json.loads(path.read_text()))


def first_target_score(report: EvaluationReport, index: int = 0) -> float:
    """The mean normalised score of the report's model `index` (a member of a run of several
    seeds; 0 for a run of one) at the first (highest) target return."""
    return report.runs[index].results[0].summary.mean


def first_target_success(report: EvaluationReport, index: int = 0) -> float | None:
    """The success rate (in [0, 1]) of the report's model `index` at the first target return;
    None where the env defines no success (locomotion)."""
    return report.runs[index].results[0].success_rate
