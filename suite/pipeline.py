"""A suite from start to report: check everything, build missing datasets, run what is not done
(skipping finished runs, resuming interrupted ones), then aggregate and write the report."""

import contextlib
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType

import torch

from datasets.minari_store import BUNDLED_ROOT, local_root
from infra.device import resolve_device
from infra.errors import UsageError
from suite import aggregate, plots, report
from suite.dataset_preparation import build_missing, missing_datasets
from suite.engines import default_workers, run_local, run_ray
from suite.progress import make_progress
from suite.ray_cluster import check_nodes_see, connect
from suite.ray_local import local_ray_instance
from suite.results_folder import ResultsFolder, clear_failure, failure, is_complete
from suite.spec import Suite
from suite.worker import RunTask
from training import args_to_dict

REPOSITORY = Path(__file__).resolve().parents[1]
RAY_MAX_RETRIES = 3


@dataclass(frozen=True)
class Execution:
    """How (not what) to run: none of this changes the results."""

    engine: str = "local"
    workers: int | None = None
    threads_per_run: int = 1
    ray_address: str | None = None
    policies_dir: Path | None = None
    device: str = "auto"
    gpus_per_run: float | None = None
    d4rl_dir: Path | None = None


@dataclass(frozen=True)
class Prepared:
    """A suite that has passed every check, and what running it needs."""

    suite: Suite
    """With seeds_together decided (as the results folder has it, else on a GPU only)."""
    results: ResultsFolder
    missing: list[str]
    """The datasets to build first."""
    ray: ModuleType | None
    """Ray, joined, when it runs the suite."""


def prepare(
    suite: Suite, out_dir: Path, execution: Execution, cleanup: contextlib.ExitStack
) -> Prepared:
    """Every check that can refuse the command, before anything is written; `cleanup` shuts
    down the Ray it joins."""
    results = ResultsFolder(out_dir)
    if suite.seeds_together is None:
        saved = results.saved_suite()
        on_gpu = resolve_device(execution.device).type == "cuda"
        suite = replace(suite, seeds_together=saved.seeds_together if saved else on_gpu)
    results.check_can_hold(suite)
    missing = missing_datasets(
        suite.datasets, execution.policies_dir, execution.d4rl_dir, suite.name
    )
    if execution.engine != "ray":
        if execution.gpus_per_run is not None and not torch.cuda.device_count():
            raise UsageError(f"--gpus-per-run {execution.gpus_per_run:g}: no GPU on this machine")
        return Prepared(suite, results, missing, ray=None)
    ray = join_ray(suite, out_dir, missing, execution, cleanup)
    return Prepared(suite, results, missing, ray=ray)


def join_ray(
    suite: Suite,
    out_dir: Path,
    missing: list[str],
    execution: Execution,
    cleanup: contextlib.ExitStack,
):
    """Ray, once the cluster has passed every check: it answers, takes this machine's token,
    has the GPUs asked for, and each of its nodes sees the results folder and the datasets.
    `cleanup` shuts it down; a local instance ends with it, leaving no process or folder."""
    # Workers import the suite from this repository and read datasets from this store, both on
    # paths every node shares.
    environment = {"PYTHONPATH": str(REPOSITORY), "MINARI_DATASETS_PATH": str(local_root())}
    if execution.ray_address is None:
        cleanup.enter_context(local_ray_instance())
    ray = connect(execution.ray_address, environment)
    cleanup.callback(ray.shutdown)
    if execution.gpus_per_run is not None and not ray.cluster_resources().get("GPU"):
        raise UsageError(f"--gpus-per-run {execution.gpus_per_run:g}: the cluster has no GPU")
    if execution.ray_address is not None:  # a local instance is this machine alone
        shared = {"results folder": out_dir}
        if missing:
            shared["dataset store"] = local_root()  # the missing ones are built there
        needed = {
            f"dataset {dataset}": dataset_folder(dataset)
            for dataset in suite.datasets
            if dataset not in missing
        }
        check_nodes_see(ray, shared, needed)
    return ray


def dataset_folder(dataset: str) -> Path:
    """Where a dataset found on this machine is: the local Minari store, else the bundled ones."""
    stored = local_root() / dataset
    return stored if (stored / "data").is_dir() else BUNDLED_ROOT / dataset


def tasks_to_run(suite: Suite, results: ResultsFolder, execution: Execution) -> list[RunTask]:
    tasks = []
    for dataset, backbone, seeds in suite.units():
        name = suite.unit_name(dataset, backbone, seeds)
        run_dir = results.run_dir(name)
        if is_complete(run_dir, suite):
            clear_failure(run_dir)  # finished after it was recorded failed (an older suite's)
            continue
        args = replace(
            suite.training_args(dataset, backbone, seeds, run_dir), device=execution.device
        )
        tasks.append(
            RunTask(
                name,
                run_dir,
                args_to_dict(args),
                suite.eval_modes,
                suite.final_eval_episodes,
                execution.threads_per_run,
                suite.test_delay_factor,
            )
        )
    return tasks


def run_suite(suite: Suite, out_dir: Path, execution: Execution) -> report.SuiteReport:
    """Run the suite's pending runs and write the report; returns the report's content (whose
    `failed` lists every failed run of the folder). Raises UsageError before writing anything,
    Stopped on SIGINT/SIGTERM."""
    with contextlib.ExitStack() as cleanup:
        prepared = prepare(suite, out_dir, execution, cleanup)
        suite, results, ray = prepared.suite, prepared.results, prepared.ray
        with results.lock():
            build_missing(
                prepared.missing, execution.policies_dir, suite.dataset_steps, execution.d4rl_dir
            )
            results.write_suite(suite)
            tasks = tasks_to_run(suite, results, execution)
            workers = execution.workers or default_workers(
                execution.threads_per_run, execution.gpus_per_run, torch.cuda.device_count()
            )
            run_dirs = {task.name: task.run_dir for task in tasks}
            with make_progress(run_dirs, suite.steps, workers) as progress:
                if ray is not None:
                    run_ray(
                        tasks,
                        ray,
                        threads=execution.threads_per_run,
                        gpus_per_run=execution.gpus_per_run,
                        max_retries=RAY_MAX_RETRIES,
                        on_event=progress.on_event,
                    )
                elif tasks:
                    run_local(tasks, workers, execution.threads_per_run, progress.on_event)
            return write_report(results)


def write_report(results: ResultsFolder) -> report.SuiteReport:
    """Aggregate the results folder and (re)write every report file; runs nothing."""
    suite = results.read_suite()
    scores, curves, evaluated = aggregate.run_scores(suite, results.root / "runs")
    names = [suite.unit_name(*unit) for unit in suite.units()]
    failed = {name: error for name in names if (error := failure(results.run_dir(name)))}
    content = report.build_report(suite, scores, evaluated, failed)
    files = {
        "report.json": report.render_json(content),
        "report.md": report.render_markdown(content),
        "report.csv": report.render_csv(content),
        "report.tex": report.render_latex(content),
        "scores.png": plots.scores_chart(content),
        "learning_curves.png": plots.learning_curves_chart(content, curves),
    }
    if any(cell.success.summary is not None for cell in content.cells):
        files["memory-success.png"] = plots.memory_success_chart(content)
    for mode in suite.eval_modes:
        title = f"last checkpoint, {mode} rollouts"
        matrices = aggregate.score_matrices(suite, scores, mode, "last")
        if not matrices:
            reason = plots.no_complete_backbone(content)
            files[f"profile-{mode}.png"] = plots.empty_chart(
                f"Performance profile, {title}", reason
            )
            files[f"aggregates-{mode}.png"] = plots.empty_chart(f"Across datasets, {title}", reason)
            continue
        profiles, cis = aggregate.performance_profiles(matrices, suite.bootstrap_reps)
        files[f"profile-{mode}.png"] = plots.profile_chart(
            profiles, cis, aggregate.PROFILE_THRESHOLDS, title
        )
        files[f"aggregates-{mode}.png"] = plots.aggregates_chart(
            content.aggregates[mode]["last"], title, content.caveats
        )
    for name, data in files.items():
        results.write_report_file(name, data)
    return content
