"""Run configs: one YAML document with a ``model``, a ``data`` and a ``train`` section.

```yaml
model: {name: vae, latent_dim: 50}       # the model's name + fields of its Config dataclass
data: {name: binarized-mnist}            # the dataset's name + its reader's options
train: {epochs: 10, lr: 0.001}           # fields of TrainConfig
```
Named configs (the papers' settings) live in ``genzoo/configs/*.yaml`` and are selected by file
stem; ``--set section.key=value`` overrides any field (values are parsed as YAML scalars/lists).

Every value is checked against its dataclass field's type (``int``, ``float``, ``bool``, ``str``,
``Literal[...]`` choices, ``X | None``, ``list[X]``, ``dict[K, V]``) and against its range (positive
counts, probabilities, ...): declared beside the field with :func:`genzoo.core.ranges.ranged` (every
model config), or in :data:`CONSTRAINTS` (train fields, data and metric options), so a bad value is a
:class:`ConfigError` naming the field, the value and what is valid before any work starts.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from genzoo.core.errors import ConfigError, UsageError

CONFIG_DIR = Path(__file__).parent / "configs"
SECTIONS = ("model", "data", "train")


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
    lr_schedule: Literal["constant", "cosine", "exponential", "step", "staged", "milestones"] = "constant"
    lr_decay: float = 1.0  # exponential: factor per epoch (or per step, lr_decay_per); step: every lr_step_epochs;
    #                        staged: per stage; milestones: at each of lr_milestones
    lr_decay_per: Literal["epoch", "step"] = "epoch"  # exponential: decay once per epoch or after every update
    lr_step_epochs: int = 1
    lr_milestones: list[int] = field(default_factory=list)  # milestones: steps from which lr_decay applies once more
    lr_stage_growth: int = 3  # staged: stage i lasts lr_stage_growth**i epochs (Burda et al. 2016: 3)
    warmup_steps: int = 0
    per_group: dict[str, dict[str, Any]] = field(default_factory=dict)  # optimiser overrides per group
    grad_clip: float | None = None  # max global gradient norm per group
    amp: bool = False  # bfloat16 autocast (CUDA only; ignored on CPU)
    #: CPU: subnormal floats flushed to zero while training (torch.set_flush_denormal): a trained GMMN step spent 4.4x
    #: longer in matrix products on the subnormal gradients of its saturated sigmoid outputs
    flush_denormal: bool = True
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


#: the optimiser fields a ``train.per_group.<group>`` entry may override
PER_GROUP_FIELDS = ("optimizer", "lr", "betas", "momentum", "weight_decay", "eps")


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


# ----- value constraints of the train section, data options and metric options ------------------------
from genzoo.core.ranges import AT_LEAST_1, NON_NEGATIVE, POSITIVE, PROBABILITY, Range, field_range  # noqa: E402

#: ``"section.field"`` -> the range its value (or every element of a list) must lie in. ``None`` (for
#: ``X | None`` fields) is always allowed. Model fields are not here: each declares its own with ``ranged``.
CONSTRAINTS: dict[str, Range] = {
    # train: counts and cadences
    "train.epochs": AT_LEAST_1, "train.steps": AT_LEAST_1, "train.batch_size": AT_LEAST_1,
    "train.log_every": AT_LEAST_1, "train.num_samples": AT_LEAST_1, "train.eval_batches": AT_LEAST_1,
    "train.lr_step_epochs": AT_LEAST_1, "train.lr_stage_growth": AT_LEAST_1, "train.warmup_steps": NON_NEGATIVE,
    "train.sample_every": NON_NEGATIVE,
    "train.eval_every": NON_NEGATIVE, "train.checkpoint_every": NON_NEGATIVE, "train.keep_checkpoints": NON_NEGATIVE,
    "train.divergence_patience": NON_NEGATIVE, "train.checkpoint_minutes": NON_NEGATIVE,
    "train.momentum_ramp_epochs": NON_NEGATIVE, "train.lr_milestones": NON_NEGATIVE,
    # train: optimiser values
    "train.lr": POSITIVE, "train.eps": POSITIVE, "train.weight_decay": NON_NEGATIVE, "train.momentum": PROBABILITY,
    "train.momentum_final": PROBABILITY, "train.betas": PROBABILITY, "train.lr_decay": POSITIVE,
    "train.grad_clip": POSITIVE, "train.divergence_factor": POSITIVE, "train.max_minutes": NON_NEGATIVE,
    # model fields declare their ranges beside the field (genzoo.core.ranges.ranged), not here
    # data options (the readers' keyword arguments)
    "data.channels": Range(1, 3), "data.size": AT_LEAST_1,
    # metric options (``genzoo eval --option``, ``evaluate(options=...)``): sample and split counts
    **{f"metric.{name}": AT_LEAST_1 for name in (
        "importance_samples", "n_samples", "n_reference", "n_test", "n_valid", "n_pairs", "splits", "subset",
        "batch_size",
    )},
    # caption-alignment: a pixel above the threshold is ink, so it must lie in [0, 1) for any pixel to count
    "metric.ink_threshold": PROBABILITY,
}


def check_count(value: Any, name: str, minimum: int = 1, optional: bool = False) -> int | None:
    """An integer argument of the API (``steps``, ``n``, ``batch_size``) checked at the boundary:
    :class:`UsageError` naming it unless it is an int >= ``minimum`` (or None when ``optional``)."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise UsageError(f"{name} must be {what}, got {value!r}")
    return value


# ----- type checking against the dataclass field types ------------------------------------------------
def describe_type(tp: Any) -> str:
    """Words for what a type annotation accepts, for error messages."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return "any value"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (Union, types.UnionType):
        parts = [describe_type(a) for a in args if a is not type(None)]
        return " or ".join(parts) + (" or null" if type(None) in args else "")
    if origin in (list, tuple):
        return f"a list of {describe_type(args[0]).removeprefix('a ').removeprefix('an ')}s" if args else "a list"
    if origin is dict:
        return "a mapping"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(
        tp, f"a {getattr(tp, '__name__', tp)}"
    )


class _Mismatch(Exception):
    pass


def _coerce(value: Any, tp: Any) -> Any:
    """``value`` as type ``tp`` (an int where a float is wanted becomes a float); :class:`_Mismatch` if not."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any or tp is object:
        return value
    if origin is Literal:
        if any(type(value) is type(a) and value == a for a in args):
            return value
        raise _Mismatch
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for option in args:
            if option is type(None):
                continue
            try:
                return _coerce(value, option)
            except _Mismatch:
                continue
        raise _Mismatch
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise _Mismatch
        return [_coerce(v, args[0]) for v in value] if args else list(value)
    if origin is dict:
        if not isinstance(value, dict):
            raise _Mismatch
        if len(args) == 2:
            return {_coerce(k, args[0]): _coerce(v, args[1]) for k, v in value.items()}
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _Mismatch
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer() and math.isfinite(value):
            return int(value)  # "1e3" for a count
        raise _Mismatch
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise _Mismatch
    if tp is str:
        if isinstance(value, str):
            return value
        raise _Mismatch
    if isinstance(tp, type):
        if isinstance(value, tp):
            return value
        raise _Mismatch
    return value  # an annotation we do not understand: accept


def check_value(value: Any, tp: Any, where: str, rule: Range | None = None) -> Any:
    """``value`` checked against type ``tp`` and its range: ``rule`` (declared beside the field, see
    :func:`genzoo.core.ranges.ranged`) or else the one :data:`CONSTRAINTS` declares for ``where`` (``"train.lr"``).

    Returns the value (ints given for float fields become floats); raises :class:`ConfigError` naming the
    field, the value and what would be valid.
    """
    try:
        value = _coerce(value, tp)
    except _Mismatch:
        raise ConfigError(f"{where}: {value!r} is not valid; expected {describe_type(tp)}") from None
    rule = rule if rule is not None else CONSTRAINTS.get(where)
    if rule is not None and value is not None:
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, (int, float)) and not isinstance(item, bool) and not rule.holds(item):
                what = "every element must be" if isinstance(value, list) else "must be"
                raise ConfigError(f"{where}: {value!r} is not valid; {what} {rule}")
    return value


def field_types(cls: type) -> dict[str, Any]:
    """The resolved type of every field of dataclass ``cls`` (strings under ``from __future__``)."""
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # an annotation that does not resolve: fall back to no type checks for it
        hints = {}
    return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(cls)}


def named_configs() -> list[str]:
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def _load_yaml(path: Path, what: str) -> Any:
    try:
        with open(path) as f:
            return yaml.safe_load(f)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or type(e).__name__
        raise ConfigError(f"{path}: not valid YAML{where} ({problem})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file; {what} is a YAML document") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read {what} ({e.strerror or e})") from None


def check_sections(doc: Any, path: Path | str, required: bool = False) -> dict[str, Any]:
    """``doc`` as a config document: a mapping with only the sections model, data and train, each a mapping
    (all three present when ``required``, as in a run directory's config.yaml)."""
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: a config is a mapping with the sections {', '.join(SECTIONS)}; "
                          f"found {type(doc).__name__}")
    unknown = sorted(str(k) for k in doc if k not in SECTIONS)
    if unknown:
        raise ConfigError(f"{path}: unknown section(s) {', '.join(unknown)}; a config has only "
                          f"{', '.join(SECTIONS)}")
    missing = [s for s in SECTIONS if s not in doc] if required else []
    if missing:
        raise ConfigError(f"{path}: missing section(s) {', '.join(missing)}; a run's config.yaml has "
                          f"{', '.join(SECTIONS)}")
    for section, value in doc.items():
        if value is None and not required:
            doc[section] = {}
        elif not isinstance(value, dict):
            raise ConfigError(f"{path}: section {section!r} must be a mapping of field: value, "
                              f"found {value!r}")
    return doc


def read_config_file(name_or_path: str | Path) -> dict[str, Any]:
    path = Path(name_or_path)
    if not path.is_file():
        if path.is_dir():
            raise ConfigError(f"config {str(name_or_path)!r} is a directory; give a YAML file or a named config")
        path = CONFIG_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise ConfigError(f"config {str(name_or_path)!r} not found; named configs: {', '.join(named_configs())}")
    doc = _load_yaml(path, "a config")
    if doc is None:
        raise ConfigError(f"{path}: empty config; a config has the sections {', '.join(SECTIONS)}")
    return check_sections(doc, path)


def parse_override(text: str) -> tuple[str, Any]:
    """``"train.lr=1e-3"`` -> ``("train.lr", 0.001)``."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not of the form section.key=value")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        raise ConfigError(f"override {text!r}: {raw!r} is not a YAML value (quote strings, e.g. 'a: b')") from None
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
        if parts[0] not in SECTIONS or len(parts) < 2 or not all(parts[1:]):
            raise ConfigError(f"override {dotted!r} must be model.KEY, data.KEY or train.KEY")
        node = doc.setdefault(parts[0], {})
        for p in parts[1:-1]:
            child = node.setdefault(p, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {dotted!r}: {p!r} is {child!r}, not a mapping")
            node = child
        node[parts[-1]] = value
    return doc


def build_dataclass(cls: type, values: dict[str, Any], where: str, label: str | None = None) -> Any:
    """``cls(**values)``, with clear errors for unknown fields and for values of the wrong type or range.

    ``where`` names the section in messages (``"train"``, ``"model"``); constraints are looked up as
    ``f"{where}.{field}"``; ``label`` (default ``where``) names the section in the unknown-field message.
    """
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a mapping of field: value, got {values!r}")
    kinds = field_types(cls)
    unknown = set(values) - set(kinds)
    if unknown:
        names = ", ".join(sorted(map(str, unknown)))
        raise ConfigError(f"unknown {label or where} field(s) {names}; known: {', '.join(sorted(kinds))}")
    declared = field_range(cls)
    checked = {k: check_value(v, kinds[k], f"{where}.{k}", declared.get(k)) for k, v in values.items()}
    if cls is TrainConfig:
        _check_train_extras(checked, kinds)
    try:
        return cls(**checked)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where}: {e}") from None


def _check_train_extras(values: dict[str, Any], kinds: dict[str, Any]) -> None:
    """Train-section rules that concern a field's shape rather than one value's range."""
    if "betas" in values and len(values["betas"]) != 2:
        raise ConfigError(f"train.betas: {values['betas']!r} is not valid; expected [beta1, beta2]")
    ramp = values.get("momentum_ramp_epochs")
    if ramp is not None and (len(ramp) != 2 or ramp[0] >= ramp[1]):
        raise ConfigError(f"train.momentum_ramp_epochs: {ramp!r} is not valid; expected [start, saturate] "
                          f"with start < saturate")
    for group, opts in values.get("per_group", {}).items():
        if not isinstance(opts, dict):
            raise ConfigError(f"train.per_group.{group}: expected a mapping of optimiser fields, got {opts!r}")
        bad = sorted(set(opts) - set(PER_GROUP_FIELDS))
        if bad:
            raise ConfigError(f"train.per_group.{group}: unknown field(s) {', '.join(bad)}; known: "
                              f"{', '.join(PER_GROUP_FIELDS)}")
        for k, v in opts.items():
            opts[k] = check_value(v, kinds[k], f"train.{k}")


def check_model_section(section: dict[str, Any]) -> Any:
    """The model's Config built from ``section`` (name + fields), every value checked; unknown model names
    raise :class:`genzoo.registry.UnknownNameError`."""
    from genzoo.registry import MODELS

    name = section.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"model.name: {name!r} is not a model name; see `genzoo list`")
    return model_config(MODELS.get(name), section)


def check_data_section(section: dict[str, Any]) -> dict[str, Any]:
    """The data section with its options checked against the dataset reader's signature."""
    from genzoo.data import check_data_options

    name = section.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"data.name: {name!r} is not a dataset name; see `genzoo list`")
    options = check_data_options(name, {k: v for k, v in section.items() if k != "name"})
    return {"name": name, **options}


def run_config_from_doc(doc: dict[str, Any], where: str | Path = "config") -> RunConfig:
    """A :class:`RunConfig` from a document whose three sections are present, every value checked: the
    model's fields against its Config, the data options against the reader, the train fields against
    :class:`TrainConfig` (and :data:`CONSTRAINTS` for all)."""
    doc = check_sections(copy.deepcopy(doc), where, required=True)
    check_model_section(doc["model"])
    data = check_data_section(doc["data"])
    train = build_dataclass(TrainConfig, doc["train"], "train")
    return RunConfig(doc["model"], data, train)


def resolve(
    model: str | None = None,
    data: str | None = None,
    config: str | Path | None = None,
    overrides: dict[str, Any] | list[str] | None = None,
) -> RunConfig:
    """Merge, in order: defaults, a named/path config, ``model``/``data`` names, overrides; check every value."""
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
    return run_config_from_doc(doc, config or "config")


def model_config(model_cls: type, section: dict[str, Any]) -> Any:
    values = {k: v for k, v in section.items() if k != "name"}
    return build_dataclass(model_cls.Config, values, "model", f"model {section.get('name')!r}")


def save_yaml(doc: dict[str, Any], path: Path) -> None:
    from genzoo.fileio import atomic_write_bytes

    atomic_write_bytes(path, yaml.safe_dump(doc, sort_keys=False).encode())


def load_run_config(run_dir: Path) -> RunConfig:
    """A run directory's ``config.yaml``; :class:`ConfigError` naming the file if it is missing, empty,
    not YAML, lacks a section or holds a bad value."""
    run_dir = Path(run_dir)
    path = run_dir / "config.yaml"
    if not run_dir.exists():
        raise ConfigError(f"{run_dir}: no such run directory")
    if not run_dir.is_dir():
        raise ConfigError(f"{run_dir}: not a directory; a run directory holds config.yaml and checkpoints/")
    if not path.is_file():
        raise ConfigError(f"{run_dir} is not a genzoo run directory (no config.yaml)")
    doc = _load_yaml(path, "a run's config")
    if doc is None:
        raise ConfigError(f"{path}: empty file; a run's config.yaml has the sections {', '.join(SECTIONS)}")
    provenance = doc.pop("provenance", None) if isinstance(doc, dict) else None
    doc = check_sections(doc, path, required=True)
    try:
        train = build_dataclass(TrainConfig, doc["train"], "train")
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
    return RunConfig(doc["model"], doc["data"], train, provenance if isinstance(provenance, dict) else {})
