"""Shared fixtures. Tests run single-threaded: the suite is sized for 2 cores and many tiny models."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import torch

torch.set_num_threads(int(os.environ.get("GENZOO_TEST_THREADS", "1")))
# never read or write the user's ~/.cache/genzoo (classifiers, feature caches) from tests
os.environ["GENZOO_CACHE"] = tempfile.mkdtemp(prefix="genzoo-test-cache-")

_DEFAULT_SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_data_dir() -> Path | None:
    """The staged real data (``$GENZOO_SHARED_DATA`` or ``../shared/data`` beside the checkout)."""
    path = Path(os.environ.get("GENZOO_SHARED_DATA", _DEFAULT_SHARED))
    return path if path.is_dir() else None


@pytest.fixture
def data_dir() -> Path:
    path = shared_data_dir()
    if path is None:
        pytest.skip("staged data (../shared/data or $GENZOO_SHARED_DATA) not available")
    return path
