"""A suite from start to report: check everything, build missing datasets, run what is not done
(skipping finished runs, resuming interrupted ones), then aggregate and write the report."""

from dataclasses import dataclass, replace
from pathlib import Path

from infra.device import resolve_device
from suite import aggregate, plots, report
from suite.dataset_preparation import build_missing, missing_datasets
from suite.engines import connect_ray, default_workers, run_local, run_ray
from suite.progress import make_progress
from suite.results_folder import ResultsFolder, failure, is_complete
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
    d4rl_dir: Path | None = None


def prepare(suite: Suite, out_dir: Path, execution: Execution):
    """Every check that can refuse the command, before anything is written. Returns the suite
    with seeds_together decided: as the results folder has it, else on a GPU only."""
    results = ResultsFolder(out_dir)
    if suite.seeds_together is None:
        saved = results.saved_suite()
        on_gpu = resolve_device(execution.device).type == "cuda"
        suite = replace(suite, seeds_together=saved.seeds_together if saved else on_gpu)
    results.check_can_hold(suite)
    missing = missing_datasets(
        suite.datasets, execution.policies_dir, execution.d4rl_dir, suite.name
    )
    ray = connect_ray(execution.ray_address, str(REPOSITORY)) if execution.engine == "ray" else None
    return suite, results, missing, ray


def tasks_to_run(suite: Suite, results: ResultsFolder, execution: Execution) -> list[RunTask]:
    tasks = []
    for dataset, backbone, seeds in suite.units():
        name = suite.unit_name(dataset, backbone, seeds)
        run_dir = results.run_dir(name)
        if is_complete(run_dir, suite):
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
            )
        )
    return tasks


def run_suite(suite: Suite, out_dir: Path, execution: Execution) -> list:
    """Run the suite's pending runs and write the report; returns the runs' outcomes. Raises
    UsageError before writing anything, SuiteInterrupted on SIGINT/SIGTERM."""
    suite, results, missing, ray = prepare(suite, out_dir, execution)
    with results.lock():
        build_missing(missing, execution.policies_dir, suite.dataset_steps, execution.d4rl_dir)
        results.write_suite(suite)
        tasks = tasks_to_run(suite, results, execution)
        workers = execution.workers or default_workers(execution.threads_per_run)
        run_dirs = {task.name: task.run_dir for task in tasks}
        outcomes = []
        with make_progress(run_dirs, suite.steps, workers) as progress:
            if ray is not None:
                outcomes = run_ray(
                    tasks, ray, execution.threads_per_run, RAY_MAX_RETRIES, progress.on_event
                )
            elif tasks:
                outcomes = run_local(tasks, workers, execution.threads_per_run, progress.on_event)
        write_report(results)
    return outcomes


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
