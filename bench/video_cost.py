"""What a video costs: one 1000-step Hopper episode filmed during a batched evaluation.

    python bench/video_cost.py [--episodes 10] [--repeats 3] [--json PATH]

Side by side in every repeat, on the same seeds and the same untrained decision model (train.py's
default min-gru): the evaluation alone, and the evaluation filming env 0's first episode, then
captioning its frames and writing the MP4 (what evaluate.py --video adds). Hopper is made with
terminate_when_unhealthy=False so that every episode lasts its 1000 steps whatever the policy.
The cost of the video is the difference of the medians; the target is <= 30 s on 2 cores.
"""

# ruff: noqa: E402  (the repository root goes on sys.path first, for `python bench/...`)
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import os
import tempfile

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode

from agents import BACKBONES, DecisionModel, DecisionModelConfig
from bench.common import add_common_arguments, environment, report, setup, time_interleaved
from envs.recurrent_policy import RecurrentPolicy
from envs.rendering import choose_gl_backend
from envs.rollout import rollout
from envs.video import FRAME_SIZE, EpisodeFilm, captioned, write_mp4

ENV_ID = "Hopper-v5"
TARGET_RETURN = 3600.0
TARGET_SECONDS = 30.0


def evaluation(model, episodes: int, film: EpisodeFilm | None, folder: str) -> None:
    rendering = {} if film is None else {"render_mode": "rgb_array"}
    envs = gym.make_vec(
        ENV_ID,
        num_envs=episodes,
        vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP},
        terminate_when_unhealthy=False,  # every episode runs to the 1000-step time limit
        width=FRAME_SIZE,
        height=FRAME_SIZE,
        **rendering,
    )
    try:
        with torch.inference_mode():
            policy = RecurrentPolicy(model, TARGET_RETURN, episodes)
            stats = rollout(envs, policy, np.ones(episodes, dtype=np.int64), seed=0, film=film)
        assert (stats.lengths == 1000).all()
        if film is not None:
            clip = film.clips[0]
            frames = captioned(clip.frames, f"min-gru | target {TARGET_RETURN:g} | score 0.0")
            write_mp4(Path(folder) / "clip.mp4", frames, clip.fps)
    finally:
        envs.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_common_arguments(parser)
    parser.add_argument("--episodes", type=int, default=10, help="envs of the evaluation")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    device = setup(args)
    if (problem := choose_gl_backend()) is not None:
        print(f"error: {problem}", file=sys.stderr)
        sys.exit(2)
    model = DecisionModel(DecisionModelConfig(11, 3), BACKBONES["min-gru"]().build()).eval()
    films: list[EpisodeFilm] = []

    def filmed() -> None:
        films.append(EpisodeFilm(1))
        evaluation(model, args.episodes, films[-1], folder)

    with tempfile.TemporaryDirectory() as folder:
        seconds = time_interleaved(
            {
                "evaluation": lambda: evaluation(model, args.episodes, None, folder),
                "evaluation_with_video": filmed,
            },
            device,
            repeats=args.repeats,
            warmup=0,
        )
        video_bytes = os.path.getsize(Path(folder) / "clip.mp4")
    video_seconds = seconds["evaluation_with_video"] - seconds["evaluation"]
    clip = films[-1].clips[0]
    row = {
        "episode_steps": clip.length,
        "frames": len(clip.frames),
        "fps": clip.fps,
        "evaluation_s": seconds["evaluation"],
        "with_video_s": seconds["evaluation_with_video"],
        "video_s": video_seconds,
        "s_per_frame": video_seconds / len(clip.frames),
        "ratio": seconds["evaluation_with_video"] / seconds["evaluation"],
    }
    payload = {
        "benchmark": "video_cost",
        "what": "extra wall time of filming one 1000-step Hopper episode of a batched "
        "evaluation (render every k-th step, caption, MP4), medians of interleaved repeats",
        "env": ENV_ID,
        "episodes": args.episodes,
        "repeats": args.repeats,
        "frame_size": FRAME_SIZE,
        "mujoco_gl": os.environ.get("MUJOCO_GL"),
        "video_bytes": video_bytes,
        "target_s": TARGET_SECONDS,
        "met": video_seconds <= TARGET_SECONDS,
        "environment": environment(device),
        "results": [row],
    }
    report(payload, [row], args.json)


if __name__ == "__main__":
    main()
