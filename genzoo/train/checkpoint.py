"""Checkpoints that are safe to load and never half-written.

A checkpoint at step N is two files in ``run_dir/checkpoints``:
- ``step-N.safetensors``: the model's weights, with metadata naming the model, its config and its
  data info (so a checkpoint rebuilds its model and refuses to load into another one);
- ``state-N.pt``: optimiser and scheduler states, RNG states and the data position; loaded with
  ``torch.load(weights_only=True)``, so no code from the file can run.
Each is written to a temporary file in the same folder, fsynced and renamed into place; the state
file is written last, so a checkpoint counts only when both exist. A crash or Ctrl-C at any moment
leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn

from genzoo.core.errors import CheckpointError
from genzoo.fileio import atomic_write_bytes  # noqa: F401  (re-exported: checkpoint.atomic_write_bytes)

FORMAT = "genzoo-checkpoint-1"
_STEP_RE = re.compile(r"^state-(\d+)\.pt$")




def non_finite(tensors: dict[str, torch.Tensor]) -> str | None:
    """A description of the first floating-point tensor with NaN or inf entries (None: all finite)."""
    for name, t in tensors.items():
        if isinstance(t, torch.Tensor) and (t.is_floating_point() or t.is_complex()):
            finite = torch.isfinite(t)
            if not bool(finite.all()):
                nan, bad = int(torch.isnan(t).sum()), int((~finite).sum())
                return f"tensor {name!r} {tuple(t.shape)} has {nan} NaN and {bad - nan} inf of {t.numel()} values"
    return None


def weights_bytes(model: nn.Module, metadata: dict[str, str]) -> bytes:
    """The safetensors bytes of ``model``'s weights; :class:`CheckpointError` if any is NaN or inf."""
    # clone: safetensors refuses tensors that share storage (tied weights)
    tensors = {k: v.detach().cpu().clone().contiguous() for k, v in model.state_dict().items()}
    problem = non_finite(tensors)
    if problem is not None:
        raise CheckpointError(f"refusing to save non-finite weights: {problem}")
    return st_save(tensors, metadata={"format": FORMAT, **metadata})


def model_metadata(model: Any) -> dict[str, str]:
    return {
        "model": model.name,
        "model_config": json.dumps(model.config_dict()),
        "data_info": json.dumps(model.data_info.to_dict()),
    }


def save_weights(model: Any, path: str | os.PathLike[str], extra: dict[str, str] | None = None) -> None:
    atomic_write_bytes(path, weights_bytes(model, {**model_metadata(model), **(extra or {})}))


def read_weights(path: str | os.PathLike[str]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and metadata of a safetensors checkpoint; :class:`CheckpointError` if unreadable."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        tensors = st_load(raw)
        header_len = int.from_bytes(raw[:8], "little")
        metadata = json.loads(raw[8 : 8 + header_len]).get("__metadata__", {}) or {}
    except FileNotFoundError:
        raise CheckpointError(f"{path}: checkpoint not found") from None
    except (SafetensorError, ValueError, OSError) as e:
        raise CheckpointError(f"{path}: corrupt or truncated checkpoint ({e})") from None
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a genzoo checkpoint (format {metadata.get('format')!r})")
    problem = non_finite(tensors)
    if problem is not None:
        raise CheckpointError(
            f"{path}: non-finite weights ({problem}); this checkpoint cannot be used; delete it (and its "
            f"state file) to fall back to an earlier one"
        )
    return tensors, metadata


def load_weights_into(model: Any, path: str | os.PathLike[str]) -> dict[str, str]:
    """Load a checkpoint into ``model``, refusing one of another model or of other shapes."""
    tensors, metadata = read_weights(path)
    if metadata.get("model") != model.name:
        raise CheckpointError(f"{path}: checkpoint of model {metadata.get('model')!r}, not {model.name!r}")
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"{path}: weights do not fit this {model.name} model: {e}") from None
    return metadata


def save_state(state: dict[str, Any], path: str | os.PathLike[str]) -> None:
    import io

    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


#: what a training state file must hold (see the engine's ``save_checkpoint``)
STATE_KEYS = ("step", "optimizers", "rng_cpu")


def load_state(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A checkpoint's training state, loaded without running code and checked: the keys the engine needs,
    one non-empty optimiser state (``state`` + ``param_groups``) per parameter group, finite moments."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: training state not found") from None
    except IsADirectoryError:
        raise CheckpointError(f"{path}: is a directory, not a training state file") from None
    except Exception as e:  # torch raises several types for corrupt or unsafe files
        raise CheckpointError(f"{path}: corrupt or unsafe training state ({_first_line(e)})") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: not a genzoo training state (a {type(state).__name__}, not a mapping)")
    missing = [k for k in STATE_KEYS if k not in state]
    if missing:
        raise CheckpointError(f"{path}: training state lacks {', '.join(missing)}; it holds "
                              f"{', '.join(map(str, state)) or 'nothing'}")
    step = state["step"]
    m = re.match(r"^state-(\d+)\.pt$", path.name)
    if not isinstance(step, int) or step < 0 or (m is not None and int(m.group(1)) != step):
        raise CheckpointError(f"{path}: training state is for step {step!r}, not the step in its name")
    optimizers = state["optimizers"]
    if not isinstance(optimizers, dict) or not optimizers:
        raise CheckpointError(f"{path}: empty optimiser state (no parameter group); the checkpoint is incomplete")
    for group, opt in optimizers.items():
        if not isinstance(opt, dict) or not isinstance(opt.get("param_groups"), list) or not opt["param_groups"] \
                or not isinstance(opt.get("state"), dict):
            raise CheckpointError(f"{path}: the optimiser state of group {group!r} is empty or malformed")
        for index, moments in opt["state"].items():
            problem = non_finite(moments if isinstance(moments, dict) else {})
            if problem is not None:
                raise CheckpointError(f"{path}: non-finite optimiser state in group {group!r}, parameter "
                                      f"{index}: {problem}")
    if not isinstance(state["rng_cpu"], torch.Tensor) or state["rng_cpu"].dtype != torch.uint8:
        raise CheckpointError(f"{path}: training state has no valid RNG state")
    return state


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def checkpoint_paths(run_dir: Path, step: int) -> tuple[Path, Path]:
    d = Path(run_dir) / "checkpoints"
    return d / f"step-{step:08d}.safetensors", d / f"state-{step:08d}.pt"


def list_checkpoints(run_dir: str | os.PathLike[str]) -> list[int]:
    """Steps with a complete checkpoint (both files present), ascending."""
    d = Path(run_dir) / "checkpoints"
    if not d.is_dir():
        return []
    steps = []
    for p in d.iterdir():
        m = _STEP_RE.match(p.name)
        if m and checkpoint_paths(Path(run_dir), int(m.group(1)))[0].is_file():
            steps.append(int(m.group(1)))
    return sorted(steps)


def prune_checkpoints(run_dir: Path, keep: int) -> None:
    for step in list_checkpoints(run_dir)[:-keep] if keep > 0 else []:
        for p in checkpoint_paths(run_dir, step)[::-1]:  # state first: the pair stops counting at once
            p.unlink(missing_ok=True)


def best_path(run_dir: str | os.PathLike[str]) -> Path:
    """Where ``train.keep_best`` keeps the weights of the best validation score."""
    return Path(run_dir) / "checkpoints" / "best.safetensors"


def latest_weights(run_dir: str | os.PathLike[str]) -> Path:
    steps = list_checkpoints(run_dir)
    if not steps:
        raise CheckpointError(f"{run_dir}: no complete checkpoint in {Path(run_dir) / 'checkpoints'}")
    return checkpoint_paths(Path(run_dir), steps[-1])[0]


def load_run(run_dir: str | os.PathLike[str], device: str = "auto", checkpoint: str | int = "latest") -> Any:
    """Rebuild a run's model from its config and a checkpoint (``"latest"``, ``"best"`` or a step); no code
    from the files runs (safetensors weights, a YAML config)."""
    from genzoo.config import load_run_config
    from genzoo.core import DataInfo
    from genzoo.defaults import resolve_device
    from genzoo.train.loop import build_model

    run_dir = Path(run_dir)
    cfg = load_run_config(run_dir)
    if checkpoint == "latest":
        weights = latest_weights(run_dir)
    elif checkpoint == "best":
        weights = best_path(run_dir)
        if not weights.is_file():
            raise CheckpointError(f"{run_dir}: no best checkpoint (train with --keep-best to keep one)")
    else:
        weights = checkpoint_paths(run_dir, int(checkpoint))[0]
    _, meta = read_weights(weights)
    info = DataInfo.from_dict(json.loads(meta["data_info"]))
    model = build_model(cfg, info)
    load_weights_into(model, weights)
    return model.to(resolve_device(device)).eval()
