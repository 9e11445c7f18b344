"""success_rate from hand-made episodes: the rollout reads each episode's final
info["is_success"], a report's groups summarise it over seeds, and the JSON and table carry it."""

import io

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from rich.console import Console

from envs.rollout import episode_quotas, rollout
from scoring import over_episodes, print_table
from scoring.grouping import RunGroup
from scoring.report import _group_summary
from scoring.results import (
    EvaluationReport,
    Normalization,
    RunEvaluation,
    TargetResult,
)


class ScriptedOutcomes(gym.Env):
    """Episodes of `length` steps whose success is read from `outcomes`, in turn."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (1,))
    action_space = gym.spaces.Box(-1.0, 1.0, (1,))

    def __init__(self, outcomes, length=3):
        self.outcomes, self.length, self.episode, self.t = list(outcomes), length, -1, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.episode, self.t = self.episode + 1, 0
        return np.zeros(1, dtype=np.float32), {}

    def step(self, action):
        self.t += 1
        done = self.t == self.length
        success = done and self.outcomes[self.episode % len(self.outcomes)]
        return np.zeros(1, dtype=np.float32), 1.0, done, False, {"is_success": success}


class Idle:
    def reset(self, rows):
        pass

    def act(self, observations):
        return np.zeros((len(observations), 1), dtype=np.float32)

    def observe(self, rewards):
        pass


def test_the_rollout_reads_each_episodes_final_success():
    outcomes = [[True, False, True], [False, False, True]]
    envs = SyncVectorEnv(
        [lambda o=o: ScriptedOutcomes(o) for o in outcomes],
        autoreset_mode=AutoresetMode.SAME_STEP,
    )
    stats = rollout(envs, Idle(), episode_quotas(6, 2), seed=0)
    np.testing.assert_array_equal(stats.successes, [True, False, True, False, False, True])
    assert stats.success_rate == 0.5


def result(successes) -> TargetResult:
    scores = tuple(100.0 * s for s in successes)
    return TargetResult(
        -2.0,
        scores,
        (55,) * len(successes),
        scores,
        over_episodes(scores),
        tuple(successes),
        float(np.mean(successes)),
    )


def test_groups_summarise_the_success_rate_over_seeds_and_the_json_keeps_it():
    per_seed = [(True, True, True, False), (True, False, False, False), (True, True, False, False)]
    runs = [
        RunEvaluation("c.pt", 10, "min-gru", seed, 0, (0,), (result(s),))
        for seed, s in enumerate(per_seed)
    ]
    group = _group_summary(RunGroup("min-gru", "min-gru", {}, (0, 1, 2)), runs, (-2.0,))
    rate = group.targets[0].success_rate
    assert np.isclose(rate.mean, 0.5)  # (0.75 + 0.25 + 0.5) / 3
    assert rate.ci_low < 0.5 < rate.ci_high and rate.count == 3
    report = EvaluationReport(
        "memory/cue-reach-d30/mixed-v0", None, False, "CueReach-v0", {"delay": 90},
        {"delay": 30}, "1", "1", ("min-gru",), "recurrent", 4, 0,
        Normalization(-4.0, -2.0, "dataset", "by hand"), None, (group,), tuple(runs), (),
    )  # fmt: skip
    again = EvaluationReport.from_json(report.to_json())
    assert again.runs[1].results[0].success_rate == 0.25
    assert again.groups[0].targets[0].success_rate == rate
    assert again.env_kwargs == {"delay": 90} and again.trained_env_kwargs == {"delay": 30}
    console = Console(file=io.StringIO(), width=200)
    print_table(again, console)
    printed = console.file.getvalue()
    assert "success" in printed and "50%" in printed and "delay=90" in printed
