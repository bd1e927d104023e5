"""Shared bits of the benchmark scripts: hardware description, peak memory, throughput from a run."""

from __future__ import annotations

import json
import os
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

import torch


def hardware() -> str:
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} (CUDA), {os.cpu_count()} CPU cores"
    cpu = platform.processor() or platform.machine()
    return f"{cpu} CPU, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads"


def stamp() -> dict[str, str]:
    """Where and when a result row was measured: the machine, torch's version and the minute."""
    return {"hardware": hardware(), "torch": torch.__version__, "time": time.strftime("%Y-%m-%d %H:%M")}


def peak_memory_mib() -> dict[str, float]:
    """Peak resident memory of this process (ru_maxrss) and, on CUDA, peak allocated GPU memory."""
    out = {"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if torch.cuda.is_available():
        out["peak_cuda_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def train_throughput(run_dir: Path) -> float:
    """Mean training images/s over the run's logged windows (the first window, with warm-up, dropped)."""
    rates = [json.loads(line)["images_per_s"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()
             if '"split": "train"' in line]
    rates = rates[1:] or rates
    return sum(rates) / len(rates)


def command_line() -> str:
    return " ".join(["python", *sys.argv])


def write_result(path: Path, result: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(result) + "\n")
    print(json.dumps(result, indent=2))


def flat_result(result: Any) -> dict[str, Any]:
    """A metric result as the flat dict the benchmark summaries store: protocol, details and scores at the
    top level (``parzen_log_likelihood``, ``parzen_stderr``, ``sigma``, ``n_samples``, ...), plus its
    ``errors`` and ``notes``. Plain dicts pass through."""
    if not hasattr(result, "to_dict"):
        return dict(result)
    if result.unavailable is not None:
        return {"unavailable": result.unavailable}
    return {**result.protocol, **result.details, **result.scores, "errors": dict(result.errors),
            "notes": list(result.notes)}


def flat_pixels(dataset: str, split: str, data_dir: Any) -> torch.Tensor:
    """A split as flat float64 pixels in [0, 1], as the parzen metric reads it."""
    from genzoo.data import load_dataset

    return load_dataset(dataset, split, data_dir).tensor().flatten(1).double()
