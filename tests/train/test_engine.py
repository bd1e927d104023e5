"""Training engine: resumption, checkpoints, divergence, configs."""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

import genzoo
from genzoo.config import ConfigError, resolve
from genzoo.core import DataInfo
from genzoo.core.errors import TrainingDiverged
from genzoo.models.base import GenerativeModel
from genzoo.registry import MODELS, UnknownNameError
from genzoo.train import checkpoint as ckpt

FAST = {"train.batch_size": 32, "train.progress": False, "train.log_every": 2}


def _weights(run_dir: Path) -> dict[str, Tensor]:
    steps = ckpt.list_checkpoints(run_dir)
    return ckpt.read_weights(ckpt.checkpoint_paths(run_dir, steps[-1])[0])[0]


class _Interrupt:
    """A hook that raises KeyboardInterrupt once, after ``at`` steps, as Ctrl-C would."""

    def __init__(self, at: int) -> None:
        self.at = at

    def __call__(self, trainer: object, step: int) -> None:
        if step == self.at:
            raise KeyboardInterrupt


@pytest.mark.parametrize("data", ["digits", "dynamic-mnist"])
def test_resumed_run_equals_uninterrupted_bit_for_bit(
    tmp_path: Path, data: str, request: pytest.FixtureRequest
) -> None:
    kwargs: dict = {}
    if data == "dynamic-mnist":  # dynamic binarization redrawn per step: the data position must resume too
        kwargs["data_dir"] = request.getfixturevalue("data_dir")
    overrides = {**FAST, "train.checkpoint_every": 4, "train.sample_every": 3, "train.eval_every": 5,
                 "model.hidden": [32], "model.latent_dim": 4, "train.eval_batches": 1}
    whole = genzoo.train("vae", data, run_dir=tmp_path / "whole", steps=12, overrides=overrides, **kwargs)
    with pytest.raises(KeyboardInterrupt):
        genzoo.train("vae", data, run_dir=tmp_path / "cut", steps=12, overrides=overrides,
                     hooks=[_Interrupt(6)], **kwargs)
    assert ckpt.list_checkpoints(tmp_path / "cut") == [4]  # step 6's work is lost, step 4 is intact
    resumed = genzoo.train("vae", data, run_dir=tmp_path / "cut", steps=12, overrides=overrides, **kwargs)
    assert resumed.step == whole.step == 12
    a, b = _weights(tmp_path / "whole"), _weights(tmp_path / "cut")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    sa = ckpt.load_state(ckpt.checkpoint_paths(tmp_path / "whole", 12)[1])
    sb = ckpt.load_state(ckpt.checkpoint_paths(tmp_path / "cut", 12)[1])
    assert torch.equal(sa["rng_cpu"], sb["rng_cpu"])
    moments_a = sa["optimizers"]["model"]["state"]
    moments_b = sb["optimizers"]["model"]["state"]
    assert all(torch.equal(moments_a[i]["exp_avg_sq"], moments_b[i]["exp_avg_sq"]) for i in moments_a)


def test_same_seed_same_samples_different_seed_differs(tmp_path: Path) -> None:
    run = genzoo.train("vae", "digits", run_dir=tmp_path / "r", steps=3, overrides=FAST)
    model = genzoo.load(run.run_dir)
    assert torch.equal(genzoo.sample(model, 8, seed=1), genzoo.sample(model, 8, seed=1))
    assert not torch.equal(genzoo.sample(model, 8, seed=1), genzoo.sample(model, 8, seed=2))


def test_checkpoint_is_safetensors_plus_weights_only_state(tmp_path: Path) -> None:
    run = genzoo.train("vae", "digits", run_dir=tmp_path / "r", steps=2, overrides=FAST)
    weights, state = ckpt.checkpoint_paths(run.run_dir, 2)
    raw = weights.read_bytes()
    assert b"\x80\x04" not in raw[:16] and raw[8:9] == b"{"  # a JSON header, not a pickle stream
    torch.load(state, weights_only=True)  # loads under the safe unpickler

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    state.write_bytes(pickle.dumps({"step": Evil()}, protocol=2))
    with pytest.raises(ckpt.CheckpointError, match="corrupt or unsafe"):
        ckpt.load_state(state)
    assert not marker.exists()


def test_wrong_model_and_corrupt_checkpoints_are_named(tmp_path: Path) -> None:
    run = genzoo.train("vae", "digits", run_dir=tmp_path / "r", steps=2, overrides=FAST)
    weights, _ = ckpt.checkpoint_paths(run.run_dir, 2)

    @dataclass
    class Cfg:
        width: int = 3

    class Other(GenerativeModel):
        name = "other"
        Config = Cfg

        def __init__(self) -> None:
            super().__init__(Cfg(), DataInfo((1, 8, 8), 17, 10))
            self.w = nn.Parameter(torch.zeros(3))

    with pytest.raises(ckpt.CheckpointError, match="checkpoint of model 'vae', not 'other'"):
        ckpt.load_weights_into(Other(), weights)
    small = MODELS.get("vae")(MODELS.get("vae").Config(latent_dim=3), DataInfo((1, 8, 8), 17, 10))
    with pytest.raises(ckpt.CheckpointError, match="do not fit this vae model"):
        ckpt.load_weights_into(small, weights)
    weights.write_bytes(weights.read_bytes()[: len(weights.read_bytes()) // 2])
    with pytest.raises(ckpt.CheckpointError, match="corrupt or truncated"):
        genzoo.load(run.run_dir)


def test_crash_while_writing_keeps_last_good_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    overrides = {**FAST, "train.checkpoint_every": 2}
    genzoo.train("vae", "digits", run_dir=tmp_path / "r", steps=2, overrides=overrides)
    real_replace = os.replace

    def failing_replace(src: str, dst: str) -> None:
        if str(dst).endswith("state-00000004.pt"):
            raise OSError("disk full (simulated)")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="simulated"):
        genzoo.train("vae", "digits", run_dir=tmp_path / "r", steps=4, overrides=overrides, resume=True)
    monkeypatch.setattr(os, "replace", real_replace)
    assert ckpt.list_checkpoints(tmp_path / "r") == [2]
    leftovers = [p.name for p in (tmp_path / "r" / "checkpoints").iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []
    run = genzoo.train("vae", "digits", run_dir=tmp_path / "r", steps=4, overrides=overrides, resume=True)
    assert run.step == 4


@dataclass
class _NanConfig:
    nan_at: int = 5


class _NanModel(GenerativeModel):
    """A model whose loss becomes NaN at a chosen step."""

    Config = _NanConfig

    def __init__(self, config: _NanConfig, data_info: DataInfo) -> None:
        super().__init__(config, data_info)
        self.w = nn.Parameter(torch.ones(1))

    def training_step(self, batch: dict[str, Tensor], step: int, group: str) -> dict[str, Tensor]:
        loss = (self.w * batch["x"].mean()) ** 2
        return {"loss": loss * float("nan") if step >= self.config.nan_at else loss}

    def sample(self, n: int, condition: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        return torch.zeros(n, *self.data_info.shape)


def test_nan_loss_stops_with_clear_message_and_keeps_checkpoint(tmp_path: Path) -> None:
    if "test-nan" not in MODELS.entries:
        MODELS.add("test-nan", _NanModel)
        _NanModel.name = "test-nan"
    with pytest.raises(TrainingDiverged, match=r"loss became nan at step 5.*checkpoint \(step 4\) is kept"):
        genzoo.train("test-nan", "digits", run_dir=tmp_path / "r", steps=10,
                     overrides={**FAST, "train.checkpoint_every": 2})
    assert ckpt.list_checkpoints(tmp_path / "r")[-1] == 4


def test_config_overrides_and_errors(tmp_path: Path) -> None:
    cfg = resolve("vae", "digits", None, ["model.latent_dim=2", "train.lr=3e-4", "train.betas=[0.5, 0.9]"])
    assert cfg.model == {"name": "vae", "latent_dim": 2}
    assert cfg.train.lr == 3e-4 and cfg.train.betas == [0.5, 0.9]
    with pytest.raises(ConfigError, match="unknown train field.*learning_rate"):
        resolve("vae", None, None, ["train.learning_rate=1"])
    with pytest.raises(ConfigError, match="unknown model 'vae' field.*latent"):
        genzoo.train("vae", "digits", run_dir=tmp_path / "x", steps=1, overrides={"model.latent": 3})
    with pytest.raises(UnknownNameError, match="unknown model 'vea'.*vae"):
        genzoo.train("vea", "digits", run_dir=tmp_path / "y", steps=1)
    with pytest.raises(ConfigError, match="config 'nope' not found"):
        resolve(None, None, "nope", None)
    genzoo.train("vae", "digits", run_dir=tmp_path / "z", steps=1, overrides=FAST)
    with pytest.raises(ValueError, match="already holds a run with another config"):
        genzoo.train("vae", "digits", run_dir=tmp_path / "z", steps=1, overrides={**FAST, "model.latent_dim": 7})


def test_max_minutes_stops_with_a_resumable_checkpoint(tmp_path: Path) -> None:
    run = genzoo.train("vae", "digits", run_dir=tmp_path / "r", steps=50,
                       overrides={**FAST, "train.max_minutes": 0.0})
    assert run.step == 1 and ckpt.list_checkpoints(tmp_path / "r") == [1]
    again = genzoo.train(run_dir=tmp_path / "r", resume=True, overrides={"train.max_minutes": None})
    assert again.step == 50


class _CollapsingModel(_NanModel):
    """Reports the 'diverged' flag from step 6 on, as a collapsed GAN does."""

    def training_step(self, batch: dict[str, Tensor], step: int, group: str) -> dict[str, Tensor]:
        loss = (self.w * batch["x"].mean()) ** 2
        return {"loss": loss, "diverged": torch.tensor(float(step >= 6))}


def test_model_reported_collapse_stops_after_patience(tmp_path: Path) -> None:
    if "test-collapse" not in MODELS.entries:
        MODELS.add("test-collapse", _CollapsingModel)
        _CollapsingModel.name = "test-collapse"
    with pytest.raises(TrainingDiverged, match=r"diverged was raised in 3 log windows in a row up to step 12"):
        genzoo.train("test-collapse", "digits", run_dir=tmp_path / "r", steps=30,
                     overrides={**FAST, "train.checkpoint_every": 4})
    assert ckpt.list_checkpoints(tmp_path / "r")[-1] == 8  # the collapsed state at step 12 is not saved


def test_momentum_ramp_follows_the_schedule_and_resumes_exactly(tmp_path: Path) -> None:
    """``train.momentum_final``: the momentum every SGD step uses is pylearn2's linear ramp in the epoch
    (base before ``start``, final from ``saturate`` on), and a run interrupted mid-ramp ends bit for bit
    where the uninterrupted one does."""
    from genzoo.config import TrainConfig
    from genzoo.train.optim import momentum_at

    cfg = TrainConfig(momentum_final=0.7, momentum_ramp_epochs=[1, 3])
    assert [momentum_at(0.5, cfg, s, 10) for s in (0, 9, 10, 19, 20, 29, 30, 99)] == pytest.approx(
        [0.5, 0.5, 0.5, 0.5, 0.6, 0.6, 0.7, 0.7]
    )
    assert momentum_at(0.5, TrainConfig(), 1000, 10) == 0.5  # no ramp configured

    overrides = {**FAST, "train.optimizer": "sgd", "train.lr": 0.05, "train.momentum": 0.5,
                 "train.momentum_final": 0.7, "train.momentum_ramp_epochs": [0, 2], "train.batch_size": 450,
                 "train.checkpoint_every": 2, "train.eval_batches": 1}
    used: list[float] = []

    def record(trainer: object, step: int) -> None:
        used.append(trainer.optimizers["model"].param_groups[0]["momentum"])  # type: ignore[attr-defined]

    genzoo.train("independent", "digits", run_dir=tmp_path / "whole", steps=8, overrides=overrides,
                 hooks=[record])  # 1257 digits / 450 = 2 steps per epoch
    assert used == pytest.approx([0.5, 0.5, 0.6, 0.6, 0.7, 0.7, 0.7, 0.7])
    with pytest.raises(KeyboardInterrupt):
        genzoo.train("independent", "digits", run_dir=tmp_path / "cut", steps=8, overrides=overrides,
                     hooks=[_Interrupt(3)])
    genzoo.train("independent", "digits", run_dir=tmp_path / "cut", steps=8, overrides=overrides)
    a, b = _weights(tmp_path / "whole"), _weights(tmp_path / "cut")
    assert all(torch.equal(a[k], b[k]) for k in a)
    plain = genzoo.train("independent", "digits", run_dir=tmp_path / "plain", steps=8,
                         overrides={**overrides, "train.momentum_final": None})
    assert not torch.equal(_weights(plain.run_dir)["logits"], a["logits"])  # the ramp changed the steps

    with pytest.raises(ValueError, match="momentum_final needs an optimizer with momentum"):
        genzoo.train("independent", "digits", run_dir=tmp_path / "adam", steps=1,
                     overrides={**overrides, "train.optimizer": "adam"})
    with pytest.raises(ValueError, match="momentum_ramp_epochs"):
        genzoo.train("independent", "digits", run_dir=tmp_path / "bad", steps=1,
                     overrides={**overrides, "train.momentum_ramp_epochs": [3, 3]})


def test_staged_schedule_is_burdas_three_to_the_i_epochs_per_rate() -> None:
    """``staged``: stage i lasts 3**i epochs at lr_decay**i (Burda et al. 2016, Sec. 5: 3,280 epochs in 8
    stages, 1e-3 x 10**(-i/7))."""
    from genzoo.config import TrainConfig
    from genzoo.train.optim import lr_factor, stage_of

    stages = [stage_of(e, 3) for e in range(41)]
    assert stages == [0] + [1] * 3 + [2] * 9 + [3] * 27 + [4]
    assert stage_of(3279, 3) == 7 and stage_of(3280, 3) == 8  # the paper's 3,280 epochs are stages 0..7
    assert [stage_of(e, 1) for e in range(4)] == [0, 1, 2, 3]  # growth 1: one epoch a stage
    cfg = TrainConfig(lr_schedule="staged", lr_decay=10 ** (-1 / 7))
    spe = 5  # steps per epoch
    assert lr_factor(cfg, 0, 10**6, spe) == 1.0 and lr_factor(cfg, 4 * spe - 1, 10**6, spe) == 10 ** (-1 / 7)
    assert lr_factor(cfg, 3279 * spe, 10**6, spe) == pytest.approx(10 ** (-7 / 7))


def test_exponential_decay_per_step_is_what_each_update_uses(tmp_path: Path) -> None:
    """``lr_decay_per: step`` multiplies the rate by ``lr_decay`` after every update (pylearn2's
    ExponentialDecay, as the GAN, cGAN and LAPGAN papers trained); the default decays once per epoch."""
    from genzoo.config import TrainConfig
    from genzoo.train.optim import lr_factor

    per_step = TrainConfig(lr_schedule="exponential", lr_decay=0.5, lr_decay_per="step")
    per_epoch = TrainConfig(lr_schedule="exponential", lr_decay=0.5)
    assert [lr_factor(per_step, s, 100, 3) for s in range(5)] == [1.0, 0.5, 0.25, 0.125, 0.0625]
    assert [lr_factor(per_epoch, s, 100, 3) for s in range(7)] == [1, 1, 1, 0.5, 0.5, 0.5, 0.25]

    used: list[float] = []

    def record(trainer: object, step: int) -> None:
        used.append(trainer.optimizers["model"].param_groups[0]["lr"])  # type: ignore[attr-defined]

    overrides = {**FAST, "train.optimizer": "sgd", "train.lr": 0.1, "train.lr_schedule": "exponential",
                 "train.lr_decay": 0.9, "train.lr_decay_per": "step", "train.batch_size": 450}
    genzoo.train("independent", "digits", run_dir=tmp_path / "r", steps=4, overrides=overrides, hooks=[record])
    assert used == pytest.approx([0.1 * 0.9**s for s in range(4)])


def test_milestones_schedule_and_a_momentum_switch_for_the_sgd_group_only(tmp_path: Path) -> None:
    """``milestones``: lr_decay applies once more from each listed step on (Li et al. 2015's GMMN code: lr / 10
    from update 10,000). A two-group model may train one group with Adam and the other with SGD; the momentum
    ramp then moves the SGD group's momentum only, here as a switch ([e - 1, e]) at the step the rate drops."""
    from genzoo.config import TrainConfig
    from genzoo.train.optim import lr_factor

    cfg = TrainConfig(lr_schedule="milestones", lr_decay=0.1, lr_milestones=[3, 5])
    assert [lr_factor(cfg, s, 100, 2) for s in range(7)] == pytest.approx([1, 1, 1, 0.1, 0.1, 0.01, 0.01])
    assert lr_factor(TrainConfig(lr_schedule="milestones", lr_decay=0.1), 50, 100, 2) == 1.0  # no milestones

    used: list[tuple[str, float, float | None]] = []

    def record(trainer: object, step: int) -> None:  # step: the number of steps done
        for group in trainer.model.update_schedule(step - 1):  # type: ignore[attr-defined]
            pg = trainer.optimizers[group].param_groups[0]  # type: ignore[attr-defined]
            used.append((group, pg["lr"], pg.get("momentum")))

    # 1257 digits / 400 = 3 steps per epoch; the auto-encoder trains steps 0-1, the code generator 2-8
    overrides = {**FAST, "model.ae_hidden": 16, "model.code_dim": 4, "model.ae_steps": 2, "model.hidden": [8],
                 "model.compile_kernel": False, "train.batch_size": 400, "train.lr": 0.01,
                 "train.per_group": {"generator": {"optimizer": "sgd", "lr": 2.0, "momentum": 0.9}},
                 "train.lr_schedule": "milestones", "train.lr_milestones": [6], "train.lr_decay": 0.1,
                 "train.momentum_final": 0.99, "train.momentum_ramp_epochs": [1, 2]}
    genzoo.train("gmmn-ae", "digits", run_dir=tmp_path / "r", steps=9, overrides=overrides, hooks=[record])
    assert [g for g, _, _ in used] == ["autoencoder"] * 2 + ["generator"] * 7
    assert [lr for _, lr, _ in used] == pytest.approx([0.01] * 2 + [2.0] * 4 + [0.2] * 3)
    assert [m for _, _, m in used] == pytest.approx([None] * 2 + [0.9] * 4 + [0.99] * 3)


@pytest.mark.parametrize("flush", [True, False])
def test_training_flushes_subnormal_floats_on_the_cpu_and_restores_afterwards(tmp_path: Path, flush: bool) -> None:
    """``train.flush_denormal`` (default on): during training a subnormal operand counts as zero (x86 FTZ/DAZ);
    after training the process computes with subnormals again."""
    tiny = torch.tensor([1e-39], dtype=torch.float32)  # below float32's smallest normal, 1.2e-38
    seen: list[float] = []

    def probe(trainer: object, step: int) -> None:
        seen.append(float(tiny * 1.0))

    genzoo.train("independent", "digits", run_dir=tmp_path / "r", steps=2, hooks=[probe],
                 overrides={**FAST, "train.flush_denormal": flush})
    assert seen == ([0.0, 0.0] if flush else [pytest.approx(1e-39)] * 2)
    assert float(tiny * 1.0) == pytest.approx(1e-39)
