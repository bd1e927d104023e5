"""A small local web app: human evaluation studies (``genzoo study``) and a run explorer (``genzoo explore``).

Needs the optional extra ``genzoo[web]`` (Starlette + uvicorn). The study core
(:mod:`genzoo.web.study`, :mod:`genzoo.web.store`, :mod:`genzoo.web.results`) uses only the standard
library, numpy and genzoo's API, so creating a study and reading its results work without the extra.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class StudyError(ValueError):
    """A bad study config, study folder or request argument (one line, naming the field and value)."""


def sample_images(model: Any, n: int, seed: int, label: int | None = None) -> Any:
    """``n`` samples of ``model`` from ``seed`` via :func:`genzoo.api.sample`, all of class ``label`` when given
    (the one place the web app passes a condition, so a change of the condition format is one line here)."""
    import torch

    from genzoo.api import sample

    if label is None:
        return sample(model, n, seed=seed)
    return sample(model, n, seed=seed, condition={"label": torch.full((n,), int(label), dtype=torch.long)})


def read_sample_file(path: str | Path) -> Any:
    """Stored samples as float ``(N, C, H, W)`` in [0, 1]: a folder of images, or an .npz whose array
    ``images`` (else its first array) holds floats in [0, 1] or 8-bit values."""
    import numpy as np
    import torch

    p = Path(path)
    if p.is_dir():
        from genzoo.data.folder import list_images, read_images

        return torch.from_numpy(read_images(list_images(p))).float() / 255.0
    try:
        with np.load(p, allow_pickle=False) as npz:
            arr = npz["images"] if "images" in npz.files else npz[npz.files[0]]
    except (OSError, ValueError, IndexError) as e:
        raise StudyError(f"{p}: not a readable .npz of images ({e})") from None
    x = torch.from_numpy(np.asarray(arr, dtype=np.float32))
    return x / 255.0 if x.max() > 1.0 else x


def require_web() -> None:
    """Raise a one-line error when the web extra is not installed."""
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as e:
        missing = e.name
        raise StudyError(
            f"the web app needs the optional extra: pip install 'genzoo[web]' ({missing} missing)"
        ) from None
