"""What DGN-AM and PPGN share: a generator G trained to invert a classifier's features, and the plumbing
of a pluggable condition network.

The feature inverter (Dosovitskiy & Brox 2016, "Generating Images with Perceptual Similarity Metrics
based on Deep Networks", Sec. 3; the "DGN" of Nguyen et al. 2016b): a fixed encoder
E maps an image to a code ``h = E(x)`` (here the penultimate features of genzoo's reference classifier,
:mod:`genzoo.metrics.classifier`, the counterpart of AlexNet's fc6), and G is trained so that
``G(E(x))`` looks like ``x``:

    L_img  = ||G(h) - x||^2                      image reconstruction (mean over pixels)
    L_feat = ||E(G(h)) - h||^2                   feature matching through the same fixed E (mean over units)
    L_adv  = -log D(G(h))                        adversarial (non-saturating), D trained on x vs G(h)
    L_G    = lambda_img L_img + lambda_feat L_feat + lambda_adv L_adv

(D&B's weights ``(2e-6, 0.01, 100)`` are for sums over 227x227 images and AlexNet features; ours are for
means over normalised features, see the config.) The codes seen on real data are recorded as per-unit
``[code_min, code_max]`` (buffers saved with the weights): DGN-AM clips its codes to that range
(Nguyen et al. 2016b, Sec. 2.3), as does the PPGN sampler.

Labels are not needed for training: G inverts features of any image. Sampling is steered towards a
class by a *condition network* C (Nguyen et al. 2016a, Sec. 2: "plug and play"): by default the same
reference classifier, but any classifier of the generator's image shape can be plugged in
(:meth:`GuidedGenerator.use_condition_network`), e.g. one trained independently with another seed.

Condition policy: these models declare ``condition_keys() == ("label",)`` for *sampling*: every sample
is asked for a class. The label spec comes from the condition network (its classes), not the data, so
asking for a class the network lacks is the usual :class:`~genzoo.core.ConditionError`, and swapping the
network changes the valid classes. ``training_step`` never reads ``batch["label"]``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.core import Batch, ConditionError, ConfigError, DataInfo, LabelSpec
from genzoo.core.conditions import ConditionSpec
from genzoo.core.ranges import AT_LEAST_1, ranged
from genzoo.models.base import GenerativeModel
from genzoo.nn.gan_losses import discriminator_loss, frozen, generator_loss

#: the reference classifier that serves data of each shape when ``feature_net: auto``
CLASSIFIER_BY_SHAPE = {(1, 8, 8): "digits", (1, 28, 28): "mnist", (3, 32, 32): "cifar10"}


@dataclass
class GuidedConfig:
    """Fields shared by DGN-AM and PPGN: the feature inverter and the condition network."""

    # E: a reference classifier (digits | mnist | cifar10 | a .safetensors file); auto: chosen by the image shape
    feature_net: str = "auto"
    condition_net: str = ""  # C at sampling time ("" = the feature network); any classifier of the same image shape
    generator: str = "mlp"  # mlp | conv
    g_hidden: list[int] = ranged([512, 512], AT_LEAST_1)  # MLP generator widths
    g_channels: list[int] = ranged([64, 32], AT_LEAST_1)  # conv generator widths (4x upsampling)
    d_hidden: list[int] = field(default_factory=lambda: [256, 256])  # MLP discriminator widths
    lambda_img: float = 1.0
    lambda_feat: float = 1.0
    lambda_adv: float = 0.01
    # the sampler
    chain_steps: int = 200  # iterations of the code update
    frames: int = 10  # images kept along a chain by canvas_sequence after the start (evenly spaced, last = sample)


def _mlp(sizes: list[int], final: nn.Module | None = None) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.LeakyReLU(0.2))
    if final is not None:
        layers.append(final)
    return nn.Sequential(*layers)


class _ConvGenerator(nn.Module):
    """code -> fc -> (c0, H/4, W/4) -> two 4x4 stride-2 transposed convolutions -> sigmoid image."""

    def __init__(self, code_dim: int, shape: tuple[int, int, int], channels: list[int]) -> None:
        super().__init__()
        c, h, w = shape
        if h % 4 or w % 4 or len(channels) != 2:
            raise ConfigError(f"model.generator=conv needs sides divisible by 4 and two g_channels, got {h}x{w}")
        self.start = (channels[0], h // 4, w // 4)
        self.fc = nn.Sequential(nn.Linear(code_dim, math.prod(self.start)), nn.LeakyReLU(0.2))
        self.net = nn.Sequential(
            nn.ConvTranspose2d(channels[0], channels[1], 4, 2, 1), nn.LeakyReLU(0.2),
            nn.ConvTranspose2d(channels[1], c, 4, 2, 1), nn.Sigmoid(),
        )

    def forward(self, h: Tensor) -> Tensor:
        return self.net(self.fc(h).view(-1, *self.start))


def load_classifier(name: str, shape: tuple[int, ...], what: str) -> nn.Module:
    """A frozen reference classifier by dataset name or file path, checked against the image ``shape``."""
    from genzoo.metrics.classifier import load_reference_classifier, read_classifier_file

    if name == "auto":
        if tuple(shape) not in CLASSIFIER_BY_SHAPE:
            known = ", ".join(f"{v} {k}" for k, v in CLASSIFIER_BY_SHAPE.items())
            raise ConfigError(f"model.{what}=auto: no reference classifier for {tuple(shape)} images ({known}); "
                              f"name a classifier file")
        name = CLASSIFIER_BY_SHAPE[tuple(shape)]
    if name.endswith(".safetensors") or Path(name).is_file():
        net, facts = read_classifier_file(name)
        net.facts = facts  # type: ignore[assignment]
    else:
        net = load_reference_classifier(name)
    check_classifier_shape(net, shape, f"model.{what}={name!r}")
    net.eval().requires_grad_(False)
    return net


def check_classifier_shape(net: nn.Module, shape: tuple[int, ...], what: str) -> None:
    """A clear :class:`ConditionError` when ``net`` does not take the generator's images."""
    in_shape = getattr(net, "in_shape", None)
    if in_shape is not None and tuple(in_shape) != tuple(shape):
        raise ConditionError(
            f"condition network {what} takes {tuple(in_shape)} images, but the generator makes {tuple(shape)}"
        )
    if getattr(net, "num_classes", None) is None:
        raise ConditionError(f"condition network {what} must say how many classes it has (num_classes)")


def file_digest(net: nn.Module) -> bytes:
    """The SHA-256 of a classifier's weights (its file's when known)."""
    facts = getattr(net, "facts", None) or {}
    if "sha256" in facts:
        return bytes.fromhex(facts["sha256"])
    h = hashlib.sha256()
    for k, v in sorted(net.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.digest()


class GuidedGenerator(GenerativeModel):
    """A feature-inverting generator (Dosovitskiy & Brox 2016) sampled by steering its code with a condition
    network; subclasses define one code update, :meth:`chain_step`."""

    Config = GuidedConfig
    #: sampler fields ``configure_sampler`` may change (subclasses add theirs)
    SAMPLER_FIELDS: tuple[str, ...] = ("chain_steps", "frames", "condition_net")

    def __init__(self, config: GuidedConfig, data_info: DataInfo) -> None:
        super().__init__(config, data_info)
        if len(data_info.shape) != 3:
            raise ConfigError(f"{self.name} generates images (C, H, W), got data shape {data_info.shape}")
        self._validate_sampler(config)
        self._nets: dict[str, nn.Module] = {}  # feature / condition networks: loaded when needed, not weights
        self.code_dim = self.feature_network().feature_dim
        shape = tuple(data_info.shape)
        if config.generator == "mlp":
            self.generator: nn.Module = nn.Sequential(
                _mlp([self.code_dim, *config.g_hidden, math.prod(shape)], nn.Sigmoid()), nn.Unflatten(1, shape)
            )
        elif config.generator == "conv":
            self.generator = _ConvGenerator(self.code_dim, shape, list(config.g_channels))
        else:
            raise ConfigError(f"model.generator={config.generator!r} is unknown; known: mlp, conv")
        self.discriminator = nn.Sequential(nn.Flatten(), _mlp([math.prod(shape), *config.d_hidden, 1]))
        # the range of real codes, per unit (features are ReLU outputs, so 0 is the floor)
        self.register_buffer("code_min", torch.zeros(self.code_dim))
        self.register_buffer("code_max", torch.zeros(self.code_dim))
        self.register_buffer("code_mean", torch.zeros(self.code_dim))
        self.register_buffer("code_sq", torch.zeros(self.code_dim))
        self.register_buffer("codes_seen", torch.zeros((), dtype=torch.float64))
        self.register_buffer("feature_net_sha256", torch.zeros(32, dtype=torch.uint8))

    def _validate_sampler(self, cfg: GuidedConfig) -> None:
        if cfg.chain_steps < 1 or cfg.frames < 1:
            raise ConfigError(f"model.chain_steps and model.frames must be >= 1, got {cfg.chain_steps}, {cfg.frames}")

    # ----- the fixed networks -----------------------------------------------------------------------
    def feature_network(self) -> nn.Module:
        """E: the reference classifier whose features G inverts (loaded once, frozen)."""
        if "feature" not in self._nets:
            self._nets["feature"] = load_classifier(self.config.feature_net, self.data_info.shape, "feature_net")
        net = self._nets["feature"].to(self.device)
        if hasattr(self, "feature_net_sha256") and int(self.feature_net_sha256.sum()):
            if bytes(self.feature_net_sha256.cpu().tolist()) != file_digest(net):
                raise ConfigError(
                    f"model.feature_net={self.config.feature_net!r} is not the classifier this generator was "
                    "trained to invert (its weights changed since); retrain the generator or restore that file"
                )
        return net

    def condition_network(self) -> nn.Module:
        """C: the classifier that steers sampling (the feature network unless one was plugged in)."""
        if "condition" not in self._nets:
            if self.config.condition_net:
                self._nets["condition"] = load_classifier(
                    self.config.condition_net, self.data_info.shape, "condition_net"
                )
            else:
                self._nets["condition"] = self.feature_network()
        return self._nets["condition"].to(self.device)

    def use_condition_network(self, net: nn.Module | str) -> None:
        """Plug in another condition network: a classifier module (images in [0, 1] -> logits, with
        ``num_classes``) or a reference classifier's dataset name or file. Its input shape must be the
        generator's output shape."""
        if isinstance(net, str):
            net = load_classifier(net, self.data_info.shape, "condition_net")
        check_classifier_shape(net, self.data_info.shape, type(net).__name__)
        net.eval().requires_grad_(False)
        self._nets["condition"] = net

    def configure_sampler(self, **options: Any) -> None:
        """Change sampler settings (``chain_steps``, the step sizes, ...) of this loaded model."""
        bad = [k for k in options if k not in self.SAMPLER_FIELDS]
        if bad:
            raise ConfigError(
                f"{self.name} has no sampler option {', '.join(map(repr, bad))}; "
                f"known: {', '.join(self.SAMPLER_FIELDS)}"
            )
        cfg = dataclasses.replace(self.config, **options)
        self._validate_sampler(cfg)
        self.config = cfg
        if "condition_net" in options:
            self._nets.pop("condition", None)

    def condition_keys(self) -> tuple[str, ...]:
        return ("label",)

    def condition_specs(self) -> dict[str, ConditionSpec]:
        """The label spec of the condition network's classes (see the module docstring)."""
        return {"label": LabelSpec(key="label", num_classes=int(self.condition_network().num_classes))}

    # ----- training -----------------------------------------------------------------------------------
    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"discriminator": list(self.discriminator.parameters()), "generator": list(self.generator.parameters())}

    def update_schedule(self, step: int) -> list[str]:
        return ["discriminator", "generator"]

    @torch.no_grad()
    def _record_codes(self, h: Tensor) -> None:
        if not int(self.feature_net_sha256.sum()):
            self.feature_net_sha256.copy_(torch.tensor(list(file_digest(self.feature_network()))))
        self.code_min.copy_(torch.minimum(self.code_min, h.min(0).values))
        self.code_max.copy_(torch.maximum(self.code_max, h.max(0).values))
        n = float(self.codes_seen)
        m = len(h)
        w = m / (n + m)
        self.code_mean.mul_(1 - w).add_(w * h.mean(0))
        self.code_sq.mul_(1 - w).add_(w * h.pow(2).mean(0))
        self.codes_seen.add_(m)

    def encode(self, x: Tensor) -> Tensor:
        """h = E(x): the feature network's penultimate features."""
        return self.feature_network().features(x)

    def decode(self, h: Tensor, condition: object = None) -> Tensor:
        """G(h): images in [0, 1]."""
        return self.generator(h)

    def reconstruct(self, x: Tensor) -> Tensor:
        """G(E(x))."""
        with torch.no_grad():
            return self.generator(self.encode(x))

    def training_step(self, batch: Batch, step: int, group: str) -> dict[str, Tensor]:
        x = batch["x"]
        cached = getattr(self, "_codes", None)  # every group of one step inverts the same codes: encode once
        if cached is not None and cached[0] == step and cached[1] is x:
            h = cached[2]
        else:
            with torch.no_grad():
                h = self.encode(x)
            self._codes = (step, x, h)
        if group == "discriminator":
            with torch.no_grad():
                fake = self.generator(h)
            loss = discriminator_loss(self.discriminator(x), self.discriminator(fake))
            return {"loss": loss}
        if group == "generator":
            if self.training:
                self._record_codes(h)
            rec = self.generator(h)
            l_img = F.mse_loss(rec, x)
            l_feat = F.mse_loss(self.feature_network().features(rec), h)
            with frozen(self.discriminator):
                l_adv = generator_loss(self.discriminator(rec))
            cfg = self.config
            loss = cfg.lambda_img * l_img + cfg.lambda_feat * l_feat + cfg.lambda_adv * l_adv
            return {"loss": loss, "image_mse": l_img.detach(), "feature_mse": l_feat.detach(),
                    "adversarial": l_adv.detach()}
        return self.extra_training_step(batch, h, group)

    def extra_training_step(self, batch: Batch, h: Tensor, group: str) -> dict[str, Tensor]:
        raise KeyError(group)

    # ----- sampling -----------------------------------------------------------------------------------
    def code_std(self) -> Tensor:
        return (self.code_sq - self.code_mean.pow(2)).clamp_min(0).sqrt()

    def initial_code(self, n: int, generator: torch.Generator | None) -> Tensor:
        """A starting code: a draw from a Gaussian fitted per unit to the real codes, clipped to their range."""
        if not float(self.codes_seen):
            raise ConfigError(f"{self.name} has not seen any real codes yet: train it before sampling")
        eps = torch.randn(n, self.code_dim, generator=generator, device=self.device, dtype=self.code_mean.dtype)
        return self.clip(self.code_mean + eps * self.code_std())

    def clip(self, h: Tensor) -> Tensor:
        """Each unit into the range seen on real data (Nguyen et al. 2016b, Sec. 2.3)."""
        return torch.maximum(torch.minimum(h, self.code_max), self.code_min)

    def chain_step(self, h: Tensor, labels: Tensor, generator: torch.Generator | None) -> Tensor:
        """One code update ``h_t -> h_{t+1}`` towards class ``labels`` (the family's equation), detached."""
        raise NotImplementedError

    def chain(
        self, h: Tensor, labels: Tensor, generator: torch.Generator | None, keep: list[int]
    ) -> tuple[Tensor, list[Tensor]]:
        """Run ``chain_steps`` code updates from ``h``; the final code and ``G(h_t)`` at iterations ``keep``."""
        frames = []
        for t in range(1, self.config.chain_steps + 1):
            h = self.chain_step(h, labels, generator)
            if t in keep:
                with torch.no_grad():
                    frames.append(self.generator(h))
        return h, frames

    def _keep(self) -> list[int]:
        steps, frames = self.config.chain_steps, self.config.frames
        return sorted({round(i * steps / frames) for i in range(1, frames + 1)})

    def _run(self, n: int, condition: Any, generator: torch.Generator | None) -> tuple[Tensor, list[Tensor]]:
        values = self.check_condition(n, condition)
        h0 = self.initial_code(n, generator)
        with torch.enable_grad():
            h, frames = self.chain(h0, values["label"], generator, self._keep())
        with torch.no_grad():
            return h, [self.generator(h0), *frames]

    def sample(self, n: int, condition: Any = None, generator: torch.Generator | None = None) -> Tensor:
        h, _ = self._run(n, condition, generator)
        with torch.no_grad():
            return self.generator(h)

    def canvas_sequence(self, n: int, condition: Any = None, generator: torch.Generator | None = None) -> Tensor:
        """``G(h_0)`` and ``G(h_t)`` at ``frames`` evenly spaced iterations of the chain, ``(n, frames + 1, C, H,
        W)``; the last frame is what :meth:`sample` returns for the same generator state."""
        _, frames = self._run(n, condition, generator)
        return torch.stack(frames, dim=1)

    def condition_gradient(self, h: Tensor, labels: Tensor, kind: str) -> tuple[Tensor, Tensor]:
        """The gradient w.r.t. ``h`` of the class unit ``labels`` of C(G(h)): its pre-softmax ``"logit"``
        or ``"log_prob"`` (log softmax); returns (gradient, probability of the class)."""
        h = h.detach().requires_grad_(True)
        logits = self.condition_network()(self.generator(h))
        chosen = logits.gather(1, labels[:, None]).squeeze(1)
        if kind == "log_prob":
            chosen = chosen - torch.logsumexp(logits, 1)
        (grad,) = torch.autograd.grad(chosen.sum(), h)
        return grad, F.softmax(logits.detach(), 1).gather(1, labels[:, None]).squeeze(1)
