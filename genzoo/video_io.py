"""Videos as files: animated GIFs and PNG frame strips (Pillow only).

A video batch is a float tensor ``(N, T, C, H, W)`` in ``[0, 1]`` (``C`` 1 or 3), the layout of
``batch["x"]`` for video datasets (:mod:`genzoo.data.moving_mnist`). :func:`write_gif` tiles the ``N``
videos of a batch side by side in every frame of one animated GIF; :func:`write_strip` writes one PNG
with a row of frames per video (the same as :func:`genzoo.images.save_sheet` for videos, but with
every frame). :func:`gif_data_uri` is what the HTML report embeds (``<img src="data:image/gif;base64,...">``).
"""

from __future__ import annotations

import os
from io import BytesIO

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from genzoo.core.errors import UsageError

__all__ = ["check_video", "gif_bytes", "gif_data_uri", "read_gif", "write_gif", "write_strip"]


def check_video(videos: Tensor) -> Tensor:
    """``videos`` as float ``(N, T, C, H, W)`` on the CPU; a single video ``(T, C, H, W)`` gets ``N = 1``.
    Anything else is a :class:`UsageError` naming the shape."""
    if not isinstance(videos, Tensor):
        videos = torch.as_tensor(np.asarray(videos))
    if videos.dim() == 4:
        videos = videos.unsqueeze(0)
    if videos.dim() != 5:
        raise UsageError(
            f"a video batch must have shape (N, T, C, H, W) or (T, C, H, W), got {tuple(videos.shape)} "
            f"({videos.dim()} axes)"
        )
    if videos.shape[2] not in (1, 3):
        raise UsageError(f"video frames need 1 or 3 channels, got {videos.shape[2]} (shape {tuple(videos.shape)})")
    if not all(videos.shape):
        raise UsageError(f"an empty video batch {tuple(videos.shape)}")
    return videos.detach().float().cpu().clamp(0, 1)


def _frame_grids(videos: Tensor, nrow: int | None, scale: int) -> list[Image.Image]:
    from genzoo.images import grid_image

    v = check_video(videos)
    nrow = nrow or min(len(v), 8)
    return [grid_image(v[:, t], nrow, scale) for t in range(v.shape[1])]


def gif_bytes(
    videos: Tensor, nrow: int | None = None, fps: float = 5.0, scale: int | None = None, hold_last: int = 1
) -> bytes:
    """An animated GIF (looping) of ``videos`` ``(N, T, C, H, W)`` tiled ``nrow`` per row, ``fps`` frames a
    second, upscaled ``scale`` times (default: to about 64 pixels a frame); the last frame shows ``hold_last``
    times as long (e.g. a finished DRAW canvas or the end of a sampling chain)."""
    if fps <= 0:
        raise UsageError(f"fps must be positive, got {fps}")
    v = check_video(videos)
    scale = scale or max(1, 64 // max(v.shape[-2:]))
    frames = _frame_grids(v, nrow, scale)
    duration = max(20, round(1000 / fps))
    durations = [duration] * (len(frames) - 1) + [hold_last * duration]
    buf = BytesIO()
    frames[0].save(
        buf, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0, optimize=False,
    )
    return buf.getvalue()


def write_gif(
    videos: Tensor, path: str | os.PathLike[str], nrow: int | None = None, fps: float = 5.0, scale: int | None = None,
    hold_last: int = 1,
) -> None:
    """Write :func:`gif_bytes` to ``path`` (atomically)."""
    from genzoo.fileio import atomic_write_bytes

    atomic_write_bytes(path, gif_bytes(videos, nrow, fps, scale, hold_last))


def write_strip(videos: Tensor, path: str | os.PathLike[str], scale: int | None = None) -> None:
    """A PNG with one row of all ``T`` frames per video."""
    from genzoo.images import save_grid

    v = check_video(videos)
    save_grid(v.flatten(0, 1), path, nrow=v.shape[1], scale=scale)


def read_gif(path: str | os.PathLike[str]) -> Tensor:
    """The frames of a GIF as ``(T, C, H, W)`` floats in [0, 1] (``C`` 1 for grey palettes, else 3)."""
    from PIL import UnidentifiedImageError

    from genzoo.core.errors import DataFileError

    frames = []
    try:
        img = Image.open(path)
    except FileNotFoundError:
        raise DataFileError(path, "file not found") from None
    except (UnidentifiedImageError, OSError) as e:
        raise DataFileError(path, f"not a readable GIF ({e})") from None
    with img:
        for i in range(getattr(img, "n_frames", 1)):
            img.seek(i)
            frames.append(np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0)
    x = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2)
    grey = bool((x[:, :1] == x[:, 1:2]).all() and (x[:, :1] == x[:, 2:3]).all())
    return x[:, :1] if grey else x


def gif_data_uri(videos: Tensor, nrow: int | None = None, fps: float = 5.0) -> str:
    """``data:image/gif;base64,...`` of :func:`gif_bytes`, for an ``<img src=...>`` in the HTML report."""
    import base64

    return "data:image/gif;base64," + base64.b64encode(gif_bytes(videos, nrow, fps)).decode("ascii")
