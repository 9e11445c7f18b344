"""Videos of evaluation episodes (evaluate.py --video DIR): one MP4 per filmed episode, named
after its run and target return, captioned with the backbone, the target and the episode's
normalised score. A video that cannot be made costs one line, never the scores."""

import tempfile
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from envs import normalized_score
from envs.normalization import ReferenceReturns
from envs.rendering import choose_gl_backend
from envs.video import EpisodeFilm, captioned, missing_package, write_mp4
from infra.error_text import error_line


@dataclass(frozen=True)
class VideoRequest:
    folder: Path
    episodes: int = 1
    """The first episode of this many envs, at each target return."""


def usable(request: VideoRequest, console: Console) -> VideoRequest | None:
    """The request if its folder can be written, the [video] extra is installed and MuJoCo can
    render here; otherwise None, after one line saying why (the evaluation goes on without)."""
    try:
        request.folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=request.folder).close()
    except OSError as error:
        console.print(
            f"warning: --video {request.folder}: cannot write there ({error_line(error)})"
            "; evaluating without videos",
            soft_wrap=True,
            markup=False,
        )
        return None
    problem = missing_package("imageio_ffmpeg") or choose_gl_backend()
    if problem is not None:
        console.print(
            f"warning: {problem}; evaluating without videos", soft_wrap=True, markup=False
        )
        return None
    return request


def film_for(request: VideoRequest | None) -> EpisodeFilm | None:
    return None if request is None else EpisodeFilm(request.episodes)


def save_clips(
    film: EpisodeFilm | None,
    request: VideoRequest | None,
    *,
    run_name: str,
    backbone: str,
    target: float,
    references: ReferenceReturns,
    console: Console,
) -> tuple[str, ...]:
    """Each clip of `film` captioned and written into the request's folder; their paths."""
    if film is None or request is None:
        return ()
    paths = []
    for clip in film.clips:
        score = float(normalized_score(clip.episode_return, references.ref_min, references.ref_max))
        caption = f"{backbone} | target {target:g} | score {score:.1f}"
        path = request.folder / f"{run_name}__target-{target:g}__env-{clip.env_index}.mp4"
        try:
            write_mp4(path, captioned(clip.frames, caption), clip.fps)
        except (OSError, RuntimeError) as error:  # ffmpeg's failures come as either
            console.print(
                f"warning: {path}: not written ({error_line(error)})", soft_wrap=True, markup=False
            )
            continue
        paths.append(str(path))
    return tuple(paths)
