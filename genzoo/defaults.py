"""The one source of defaults shared by the API and the CLI (the CLI's help text reads them from here)."""

from __future__ import annotations

import torch

from genzoo.core.errors import UsageError

#: ``auto``: CUDA when a GPU is visible, else the CPU
DEVICE = "auto"
SEED = 0
SAMPLES = 64
SAMPLE_BATCH = 256
EVAL_BATCH = 256
IMPORTANCE_SAMPLES = 5000


def resolve_device(name: str | torch.device | None = None) -> torch.device:
    """``auto`` (or None) -> ``cuda`` when available, else ``cpu``; a device that is not there is an error."""
    name = DEVICE if name is None else name
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise UsageError(f"--device {name!r} is not a device; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {name!r}: CUDA is not available on this machine; use auto or cpu")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise UsageError(f"--device {name!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if device.type not in ("cpu", "cuda"):
        raise UsageError(f"--device {name!r}: genzoo runs on cpu or cuda")
    return device
