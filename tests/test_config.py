"""Config values checked against the dataclass field types and the one CONSTRAINTS table."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from genzoo.config import (
    CONSTRAINTS,
    TrainConfig,
    build_dataclass,
    check_value,
    field_types,
    named_configs,
    resolve,
)
from genzoo.core.errors import ConfigError
from genzoo.data import check_data_options, data_options
from genzoo.registry import DATASETS, MODELS


@dataclass
class _Example:
    count: int = 1
    rate: float = 0.5
    flag: bool = False
    mode: Literal["a", "b"] = "a"
    limit: float | None = None
    sizes: list[int] = field(default_factory=list)
    table: dict[str, float] = field(default_factory=dict)


def test_values_are_checked_against_field_types() -> None:
    ok = build_dataclass(_Example, {"count": 3, "rate": 2, "flag": True, "mode": "b", "limit": 4,
                                    "sizes": [1, 2], "table": {"x": 1}}, "example")
    assert ok.rate == 2.0 and isinstance(ok.rate, float) and ok.limit == 4.0 and ok.table == {"x": 1.0}
    assert build_dataclass(_Example, {"count": 1e3}, "example").count == 1000  # YAML's 1e3 for a count
    bad = {
        "count": "3", "rate": "abc", "flag": 1, "mode": "c", "limit": "none", "sizes": [1, "x"], "table": [1],
    }
    expected = {
        "count": "expected an integer", "rate": "expected a number", "flag": "expected true or false",
        "mode": "expected one of 'a', 'b'", "limit": "expected a number or null",
        "sizes": "expected a list of integers", "table": "expected a mapping",
    }
    for name, value in bad.items():
        with pytest.raises(ConfigError, match=f"example.{name}: .* is not valid; {expected[name]}"):
            build_dataclass(_Example, {name: value}, "example")
    assert build_dataclass(_Example, {"count": 2.0}, "example").count == 2
    with pytest.raises(ConfigError, match="expected an integer"):
        build_dataclass(_Example, {"count": 2.5}, "example")
    with pytest.raises(ConfigError, match="unknown example field.*colour; known: count, flag"):
        build_dataclass(_Example, {"colour": 1}, "example")


def test_constraints_apply_to_values_and_list_elements() -> None:
    assert check_value(5, int, "train.batch_size") == 5
    for value in (0, -5):
        with pytest.raises(ConfigError, match=f"train.batch_size: {value} is not valid; must be >= 1"):
            check_value(value, int, "train.batch_size")
    with pytest.raises(ConfigError, match=r"train.momentum: 1.0 is not valid; must be in \[0, 1\)"):
        check_value(1.0, float, "train.momentum")
    with pytest.raises(ConfigError, match="train.lr: nan is not valid; must be > 0"):
        check_value(float("nan"), float, "train.lr")
    assert check_value(None, float | None, "train.grad_clip") is None  # None is always allowed
    with pytest.raises(ConfigError, match=r"model.hidden: \[200, 0\] is not valid; every element must be >= 1"):
        resolve("vae", None, None, ["model.hidden=[200, 0]"])  # the range VAEConfig declares beside the field


def test_every_shipped_default_and_named_config_passes_its_own_checks() -> None:
    build_dataclass(TrainConfig, {}, "train")
    for name in MODELS.names():
        build_dataclass(MODELS.get(name).Config, {}, "model")
    for name in named_configs():
        resolve(config=name)
    # every constraint refers to a field that some config dataclass declares
    declared = {f"train.{n}" for n in field_types(TrainConfig)}
    for name in MODELS.names():
        declared |= {f"model.{n}" for n in field_types(MODELS.get(name).Config)}
    for name in DATASETS.names():
        declared |= {f"data.{n}" for n in data_options(name) or {}}
    unused = {k for k in CONSTRAINTS if not k.startswith("metric.")} - declared
    assert not unused, unused
    # model fields declare their own ranges: the name table holds none, so a new model's field never
    # inherits a rule meant for another model's field of the same name
    assert not [k for k in CONSTRAINTS if k.startswith("model.")]


def test_model_configs_declare_their_ranges_beside_the_fields() -> None:
    """Each model's sizes, rates and counts are checked by the range its Config declares (``ranged``),
    inherited ones included; list defaults are fresh per instance."""
    from genzoo.core.ranges import AT_LEAST_1, PROBABILITY, field_range
    from genzoo.models.adversarial.mlp_gan import GANConfig
    from genzoo.models.moment_matching.gmmn import GMMNConfig

    ranges = field_range(GANConfig)
    assert ranges["latent_dim"] == AT_LEAST_1 and ranges["d_dropout"] == PROBABILITY  # latent_dim: inherited
    assert GMMNConfig().hidden == [64, 256, 256, 1024] and GMMNConfig().hidden is not GMMNConfig().hidden
    with pytest.raises(ConfigError, match=r"model.d_dropout: 1.5 is not valid; must be in \[0, 1\)"):
        resolve("gan", None, None, ["model.d_dropout=1.5"])
    with pytest.raises(ConfigError, match=r"model.sigmas: \[2.0, 0.0\] is not valid; every element must be > 0"):
        resolve("gmmn", None, None, ["model.sigmas=[2, 0]"])


def test_train_section_shape_rules() -> None:
    with pytest.raises(ConfigError, match="momentum_ramp_epochs: \\[5, 2\\] .* start < saturate"):
        resolve("vae", None, None, ["train.momentum_ramp_epochs=[5, 2]"])
    with pytest.raises(ConfigError, match="per_group.generator: unknown field.*lrr; known: optimizer, lr"):
        resolve("gan", None, None, {"train.per_group": {"generator": {"lrr": 1}}})
    with pytest.raises(ConfigError, match="train.lr: 'fast' is not valid"):
        resolve("gan", None, None, {"train.per_group": {"generator": {"lr": "fast"}}})
    cfg = resolve("gan", None, None, {"train.per_group": {"generator": {"lr": 1, "optimizer": "sgd"}}})
    assert cfg.train.per_group == {"generator": {"lr": 1.0, "optimizer": "sgd"}}


def test_data_options_come_from_the_reader_signature() -> None:
    assert set(data_options("mnist")) == {"binarize"}
    assert set(data_options("folder")) == {"path", "channels", "size"}
    assert data_options("digits") == {}
    for name in DATASETS.names():  # every genzoo reader's options resolve to types
        if DATASETS.get(name).__module__.startswith("genzoo."):
            assert data_options(name) is not None
    assert check_data_options("folder", {"size": 16.0}) == {"size": 16}
    with pytest.raises(ConfigError, match=r"unknown data\.\* key\(s\) sise for dataset 'folder'; known: channels, "
                                          r"path, size"):
        check_data_options("folder", {"sise": 16})
    with pytest.raises(ConfigError, match="data.channels: 'rgb' is not valid; expected an integer or null"):
        check_data_options("folder", {"channels": "rgb"})
    with pytest.raises(ConfigError, match=r"data.channels: 4 is not valid; must be in \[1, 3\]"):
        check_data_options("folder", {"channels": 4})
