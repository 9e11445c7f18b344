"""Filming evaluation episodes: the frames an MP4 holds, and scores unchanged by filming."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from agents import DecisionModel, DecisionModelConfig, build_backbone
from envs import evaluate_model, make_env
from envs.rendering import choose_gl_backend
from envs.video import (
    FRAME_SIZE,
    EpisodeFilm,
    captioned,
    frame,
    frame_stride,
    without_shadows_and_reflections,
    write_mp4,
)

imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")


@pytest.fixture
def rendering(monkeypatch):
    """MuJoCo's offscreen GL chosen for this process (restored afterwards); skip without one."""
    monkeypatch.setenv("MUJOCO_GL", "egl")
    monkeypatch.setenv("PYOPENGL_PLATFORM", "egl")
    problem = choose_gl_backend()
    if problem is not None:
        pytest.skip(problem)


def tiny_model() -> DecisionModel:
    torch.manual_seed(0)
    backbone = build_backbone("min-gru", d_model=8, n_layers=1, dropout=0.0)
    return DecisionModel(DecisionModelConfig(11, 3, context_length=4), backbone)


def decoded(path) -> tuple[dict, list[np.ndarray]]:
    reader = imageio_ffmpeg.read_frames(str(path))
    metadata = next(reader)
    width, height = metadata["size"]
    frames = [np.frombuffer(f, np.uint8).reshape(height, width, 3) for f in reader]
    return metadata, frames


def test_hopper_clip_plays_in_real_time_at_thirty_frames_per_second_at_most():
    env = make_env("hopper")
    stride = frame_stride(env)
    fps = env.metadata["render_fps"] / stride
    assert fps <= 30 and fps > 30 / 2
    assert stride * env.unwrapped.dt * fps == pytest.approx(1.0)  # one second per second


def test_filmed_episode_decodes_to_its_frames_and_scores_stay_the_same(
    rendering, short_episodes, tmp_path
):
    settings = dict(env_id="Hopper-v5", target_return=3600.0, episodes=3, seed=4)
    plain = evaluate_model(tiny_model(), **settings)
    film = EpisodeFilm(2)
    filmed = evaluate_model(tiny_model(), **settings, film=film)
    np.testing.assert_array_equal(filmed.returns, plain.returns)
    np.testing.assert_array_equal(filmed.lengths, plain.lengths)

    assert [clip.env_index for clip in film.clips] == [0, 1]
    # Three envs, one episode each: the stats hold env 0's episode, then env 1's.
    for clip, episode in zip(film.clips, (0, 1), strict=True):
        assert clip.length == plain.lengths[episode]
        assert clip.episode_return == pytest.approx(plain.returns[episode])
        # The reset frame, then every stride-th step before the episode's last.
        stride = frame_stride(make_env("hopper"))
        assert len(clip.frames) == 1 + (clip.length - 1) // stride

    clip = film.clips[0]
    path = tmp_path / "clip.mp4"
    write_mp4(path, captioned(clip.frames, "min-gru | target 3600 | score 1.0"), clip.fps)
    metadata, frames = decoded(path)
    assert len(frames) == len(clip.frames)
    assert metadata["size"] == (FRAME_SIZE, FRAME_SIZE)
    assert metadata["fps"] == pytest.approx(clip.fps)
    # The caption band is dark, the scene below it is not.
    assert frames[0][:4].mean() < 60 < frames[0][FRAME_SIZE // 2 :].mean()
    assert not list(tmp_path.glob(".*.tmp"))


def test_each_env_is_drawn_in_its_own_context_whichever_was_made_last(rendering):
    envs = []
    for seed in (1, 2):
        env = gym.make("Hopper-v5", render_mode="rgb_array", width=FRAME_SIZE, height=FRAME_SIZE)
        env.reset(seed=seed)
        envs.append(env)
    without_shadows_and_reflections(envs[1])  # GL objects that differ from the first env's
    first = frame(envs[0])
    frame(envs[1])  # makes the second env's context, current from then on
    np.testing.assert_array_equal(frame(envs[0]), first)


def test_an_unset_gl_backend_is_chosen_and_a_missing_one_named_in_one_line(monkeypatch):
    monkeypatch.setenv("MUJOCO_GL", "egl")
    monkeypatch.setenv("__EGL_VENDOR_LIBRARY_FILENAMES", "/nonexistent.json")  # no EGL driver
    problem = choose_gl_backend()
    assert problem is not None and "\n" not in problem
    assert "MUJOCO_GL=egl" in problem and "libegl1" in problem
