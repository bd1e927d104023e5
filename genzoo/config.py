"""Run configs: one YAML document with a ``model``, a ``data`` and a ``train`` section.

```yaml
model: {name: vae, latent_dim: 50}       # the model's name + fields of its Config dataclass
data: {name: binarized-mnist}            # the dataset's name + its reader's options
train: {epochs: 10, lr: 0.001}           # fields of TrainConfig
```
Named configs (the papers' settings) live in ``genzoo/configs/*.yaml`` and are selected by file
stem; ``--set section.key=value`` overrides any field (values are parsed as YAML scalars/lists).
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from genzoo.core.errors import ConfigError

CONFIG_DIR = Path(__file__).parent / "configs"


@dataclass
class TrainConfig:
    """Everything about optimisation and bookkeeping that is not the model itself."""

    epochs: int = 10
    steps: int | None = None  # stop after this many steps (overrides epochs when set)
    batch_size: int = 100
    optimizer: Literal["adam", "adamw", "adamax", "sgd", "rmsprop"] = "adam"
    lr: float = 1e-3
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    momentum: float = 0.0
    momentum_final: float | None = None  # sgd/rmsprop: ramp the momentum linearly to this (see momentum_at)
    momentum_ramp_epochs: list[int] = field(default_factory=lambda: [1, 250])  # [start, saturate] of the ramp
    weight_decay: float = 0.0
    eps: float = 1e-8
    lr_schedule: Literal["constant", "cosine", "exponential", "step"] = "constant"
    lr_decay: float = 1.0  # exponential: factor per epoch; step: factor every lr_step_epochs
    lr_step_epochs: int = 1
    warmup_steps: int = 0
    per_group: dict[str, dict[str, Any]] = field(default_factory=dict)  # optimiser overrides per group
    grad_clip: float | None = None  # max global gradient norm per group
    amp: bool = False  # bfloat16 autocast (CUDA only; ignored on CPU)
    seed: int = 0
    log_every: int = 50
    sample_every: int = 0  # steps between sample grids (0: once per epoch)
    num_samples: int = 64
    eval_every: int = 0  # steps between evaluations on the valid split (0: once per epoch)
    eval_batches: int = 10
    checkpoint_every: int = 0  # steps between checkpoints (0: once per epoch)
    checkpoint_minutes: float = 5.0  # also checkpoint after this much wall time (0: only by steps)
    keep_best: bool = False  # keep the weights of the best validation NLL in checkpoints/best.safetensors
    keep_checkpoints: int = 2
    divergence_factor: float = 1e4  # stop when a loss exceeds this times its running median
    divergence_patience: int = 3  # stop when a model's logged "*diverged" flag averages >= 0.9 this many
    #                               log windows in a row (GANs raise it on collapse); 0 disables
    progress: bool = True
    max_minutes: float | None = None  # stop (with a checkpoint) after this much training time; resumable
    tensorboard: bool = True  # also write TensorBoard event files to run_dir/tensorboard


@dataclass
class RunConfig:
    """A run's whole description; ``provenance`` records where its data came from (the data directory and
    the training split's fingerprint), so ``eval``, ``sample`` and ``--resume`` find the same data."""

    model: dict[str, Any]
    data: dict[str, Any]
    train: TrainConfig
    provenance: dict[str, Any] = field(default_factory=dict)

    def spec(self) -> dict[str, Any]:
        """What makes two runs the same run (everything but the provenance)."""
        return {"model": dict(self.model), "data": dict(self.data), "train": dataclasses.asdict(self.train)}

    def to_dict(self) -> dict[str, Any]:
        return {**self.spec(), **({"provenance": dict(self.provenance)} if self.provenance else {})}




def named_configs() -> list[str]:
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def read_config_file(name_or_path: str | Path) -> dict[str, Any]:
    path = Path(name_or_path)
    if not path.is_file():
        path = CONFIG_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise ConfigError(f"config {name_or_path!r} not found; named configs: {', '.join(named_configs())}")
    with open(path) as f:
        doc = yaml.safe_load(f) or {}
    if not isinstance(doc, dict) or set(doc) - {"model", "data", "train"}:
        raise ConfigError(f"{path}: a config has only the sections model, data and train")
    return doc


def parse_override(text: str) -> tuple[str, Any]:
    """``"train.lr=1e-3"`` -> ``("train.lr", 0.001)``."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not of the form section.key=value")
    key, raw = text.split("=", 1)
    value = yaml.safe_load(raw) if raw.strip() else None
    if isinstance(value, str):  # YAML reads "1e-3" as a string; numbers should be numbers
        try:
            value = float(value)
        except ValueError:
            pass
    return key.strip(), value


def apply_overrides(doc: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    for dotted, value in overrides.items():
        parts = dotted.split(".")
        if parts[0] not in ("model", "data", "train") or len(parts) < 2:
            raise ConfigError(f"override {dotted!r} must start with model., data. or train.")
        node = doc.setdefault(parts[0], {})
        for p in parts[1:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return doc


def build_dataclass(cls: type, values: dict[str, Any], where: str) -> Any:
    """``cls(**values)``, with a clear error for unknown fields."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - names
    if unknown:
        raise ConfigError(
            f"unknown {where} field(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(names))}"
        )
    return cls(**values)


def resolve(
    model: str | None = None,
    data: str | None = None,
    config: str | Path | None = None,
    overrides: dict[str, Any] | list[str] | None = None,
) -> RunConfig:
    """Merge, in order: defaults, a named/path config, ``model``/``data`` names, overrides."""
    doc: dict[str, Any] = read_config_file(config) if config else {}
    doc.setdefault("model", {})
    doc.setdefault("data", {})
    doc.setdefault("train", {})
    if model:
        if doc["model"].get("name") not in (None, model):
            raise ConfigError(f"config is for model {doc['model']['name']!r}, not {model!r}")
        doc["model"]["name"] = model
    if data and data != doc["data"].get("name"):
        doc["data"] = {"name": data}
    if isinstance(overrides, list):
        overrides = dict(parse_override(o) for o in overrides)
    doc = apply_overrides(doc, overrides or {})
    if not doc["model"].get("name"):
        raise ConfigError("no model named: pass a model name or a config with model.name")
    doc["data"].setdefault("name", "digits")
    train = build_dataclass(TrainConfig, doc["train"], "train")
    return RunConfig(doc["model"], doc["data"], train)


def model_config(model_cls: type, section: dict[str, Any]) -> Any:
    values = {k: v for k, v in section.items() if k != "name"}
    return build_dataclass(model_cls.Config, values, f"model {section.get('name')!r}")


def save_yaml(doc: dict[str, Any], path: Path) -> None:
    from genzoo.fileio import atomic_write_bytes

    atomic_write_bytes(path, yaml.safe_dump(doc, sort_keys=False).encode())


def load_run_config(run_dir: Path) -> RunConfig:
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise ConfigError(f"{run_dir} is not a genzoo run directory (no config.yaml)")
    with open(path) as f:
        doc = yaml.safe_load(f)
    return RunConfig(
        doc["model"], doc["data"], build_dataclass(TrainConfig, doc["train"], "train"), doc.get("provenance") or {}
    )
