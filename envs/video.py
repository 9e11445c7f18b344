"""Filming evaluation episodes: every k-th step of the first episode of a few envs of a batched
rollout, rendered offscreen, captioned and written as MP4 (imageio-ffmpeg).

Only the filmed envs render (a frame costs ~0.04 s with Mesa's software renderer on two busy
cores, a simulator step ~0.2 ms), without shadows and reflections, which took four fifths of
a frame's time. Rendering reads the simulator's state and changes nothing, so the scores are
those of the same rollout without a film."""

import importlib
import math
from dataclasses import dataclass, field
from pathlib import Path

import gymnasium as gym
import numpy as np

from infra.atomic_files import replaced_on_success

# Frames per second at most: every k-th step is kept so that the clip plays in real time.
MAX_FPS = 30
FRAME_SIZE = 256  # pixels, square; a multiple of 16, as H.264 encoders want


def missing_package(*modules: str) -> str | None:
    """One line naming the [video] extra when one of `modules` cannot be imported, else None."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError:
            return f"{module} is missing: pip install '.[video]' (imageio-ffmpeg, moviepy<2)"
    return None


def frame_stride(env: gym.Env) -> int:
    """k: keep every k-th simulator step so that a clip at render_fps / k frames per second
    plays at real time with at most MAX_FPS frames per second (Hopper: dt 8 ms, k 5, 25 fps)."""
    steps_per_second = env.metadata.get("render_fps") or 1.0 / env.unwrapped.dt
    return max(1, math.ceil(steps_per_second / MAX_FPS))


@dataclass
class Clip:
    """One filmed episode: its frames, the frame rate that plays it in real time, its return."""

    env_index: int
    fps: float
    frames: list[np.ndarray] = field(default_factory=list)  # each (H, W, 3) uint8
    episode_return: float = 0.0
    length: int = 0
    finished: bool = False


class EpisodeFilm:
    """Films the first episode of envs 0 .. `episodes` - 1 of a synchronous vector env made with
    render_mode "rgb_array" (envs.make_vector_env's `render_size`)."""

    def __init__(self, episodes: int = 1):
        if episodes <= 0:
            raise ValueError(f"episodes to film must be positive, got {episodes}")
        self.episodes = episodes
        self.clips: list[Clip] = []
        self._stride = 1

    def start(self, envs: gym.vector.VectorEnv) -> None:
        """After the vector env's reset: the first frame of each filmed env."""
        if not isinstance(envs, gym.vector.SyncVectorEnv):
            raise ValueError("filming needs a synchronous vector env (its envs render here)")
        first = envs.envs[0]
        self._stride = frame_stride(first)
        fps = (first.metadata.get("render_fps") or 1.0 / first.unwrapped.dt) / self._stride
        count = min(self.episodes, envs.num_envs)
        for index in range(count):
            without_shadows_and_reflections(envs.envs[index])
        self.clips = [Clip(index, fps, [frame(envs.envs[index])]) for index in range(count)]

    def step(self, envs: gym.vector.VectorEnv, rewards: np.ndarray, ended: np.ndarray) -> None:
        """After a step of all envs: rewards (num_envs,), ended (num_envs,) bool."""
        for clip in self.clips:
            if clip.finished:
                continue
            clip.episode_return += float(rewards[clip.env_index])
            clip.length += 1
            # An ended env has already reset (SAME_STEP): its frame would show the next episode.
            clip.finished = bool(ended[clip.env_index])
            if not clip.finished and clip.length % self._stride == 0:
                clip.frames.append(frame(envs.envs[clip.env_index]))


def without_shadows_and_reflections(env: gym.Env) -> None:
    """Before the env's first render: visual settings only, no physics."""
    model = env.unwrapped.model
    model.vis.quality.shadowsize = 0  # no shadow map
    model.mat_reflectance[:] = 0  # no mirrored floor pass


def frame(env: gym.Env) -> np.ndarray:
    """(H, W, 3) uint8. Each filmed env has a GL context of its own, but Gymnasium makes it
    current only when it is made: with several in one process, the last made would be drawn."""
    viewer = env.unwrapped.mujoco_renderer.viewer
    if viewer is not None:
        viewer.make_context_current()
    return env.render()


def captioned(frames: list[np.ndarray], text: str) -> list[np.ndarray]:
    """The frames with `text` on a dark band along their top edge."""
    from PIL import Image, ImageDraw, ImageFont  # Pillow comes with matplotlib

    height, width, _ = frames[0].shape
    font = ImageFont.load_default(size=max(10, width // 22))
    band = max(14, width // 14)
    result = []
    for frame in frames:
        image = Image.fromarray(frame)
        draw = ImageDraw.Draw(image)
        draw.rectangle((0, 0, width, band), fill=(20, 20, 20))
        draw.text((4, band // 2), text, fill=(255, 255, 255), font=font, anchor="lm")
        result.append(np.asarray(image))
    return result


def write_mp4(path: Path, frames: list[np.ndarray], fps: float) -> None:
    """H.264 MP4 through imageio-ffmpeg (the [video] extra), written beside `path` and renamed
    (never half a file)."""
    import imageio_ffmpeg

    height, width, _ = frames[0].shape
    with replaced_on_success(path) as temporary:
        writer = imageio_ffmpeg.write_frames(
            str(temporary),
            (width, height),
            fps=fps,
            codec="libx264",
            macro_block_size=16,
            output_params=["-f", "mp4"],  # the temporary name has no .mp4 to tell ffmpeg
            ffmpeg_log_level="error",
        )
        writer.send(None)  # starts ffmpeg
        for frame in frames:
            writer.send(np.ascontiguousarray(frame))
        writer.close()
