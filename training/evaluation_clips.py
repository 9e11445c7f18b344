"""A clip of an evaluation episode in TensorBoard (train.py --video-every N): at every N steps,
the first episode of env 0 at the first target return, as the periodic evaluation starts it
(env seed = the run's seed), filmed and logged with add_video under `videos/eval`. A run of
several seeds films its first member. Training waits for the clip (one episode, rendered)."""

import sys

import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter

from envs import evaluate_model, normalized_score
from envs.normalization import ReferenceReturns
from envs.rendering import choose_gl_backend
from envs.video import EpisodeFilm, captioned, missing_package

TAG = "videos/eval"


class EvaluationClips:
    def __init__(
        self, every: int, *, env_id, env_kwargs, targets, mode, seed, references: ReferenceReturns
    ):
        self.every = every
        self.settings = dict(
            env_id=env_id, env_kwargs=env_kwargs, target_return=targets[0], mode=mode, seed=seed
        )
        self.references = references
        # TensorBoard's add_video encodes with moviepy 1 (moviepy.editor)
        problem = (missing_package("moviepy.editor") or choose_gl_backend()) if every else None
        if problem is not None:
            print(f"note: no evaluation clips: {problem}", file=sys.stderr)
            self.every = 0

    def due(self, step: int) -> bool:
        return self.every > 0 and step % self.every == 0

    def log(self, models: dict, step: int, writer: SummaryWriter) -> None:
        training_seed, model = next(iter(models.items()))
        settings = self.settings | ({} if training_seed is None else {"seed": training_seed})
        film = EpisodeFilm(1)
        evaluate_model(model, episodes=1, film=film, **settings)
        clip = film.clips[0]
        ref_min, ref_max = self.references.ref_min, self.references.ref_max
        score = float(normalized_score(clip.episode_return, ref_min, ref_max))
        backbone = model.spec()["backbone"]["type"]
        caption = (
            f"{backbone} | step {step} | target {settings['target_return']:g} | score {score:.1f}"
        )
        frames = np.stack(captioned(clip.frames, caption))  # (T, H, W, 3)
        video = torch.from_numpy(frames).permute(0, 3, 1, 2)[None]  # (1, T, 3, H, W)
        writer.add_video(TAG, video, step, fps=round(clip.fps))
