"""A small local web app: human evaluation studies (``genzoo study``) and a run explorer (``genzoo explore``).

Needs the optional extra ``genzoo[web]`` (Starlette + uvicorn). The study core
(:mod:`genzoo.web.study`, :mod:`genzoo.web.store`, :mod:`genzoo.web.results`) uses only the standard
library, numpy and genzoo's API, so creating a study and reading its results work without the extra.
"""

from __future__ import annotations

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
