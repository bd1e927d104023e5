"""genzoo: train, sample and evaluate the classic deep generative models of natural images."""

from __future__ import annotations

__version__ = "0.1.0"

from genzoo.api import evaluate, load, sample, train  # noqa: E402

__all__ = ["__version__", "evaluate", "load", "sample", "train"]
