"""Variational autoencoder (Kingma & Welling 2013, "Auto-Encoding Variational Bayes"; Rezende et al. 2014).

- Encoder q(z|x) = N(mu(x), diag sigma^2(x)); reparameterisation z = mu + sigma * eps (K&W eq. 11).
- Prior p(z) = N(0, I); KL(q || p) in closed form (K&W appendix B):
  -KL = 1/2 sum_j (1 + log sigma_j^2 - mu_j^2 - sigma_j^2).
- ELBO L(x) = E_q[log p(x|z)] - KL (K&W eq. 10), one reparameterised sample per example in training.
- Importance-weighted bound (Burda et al. 2016, eq. 8): L_k(x) = log 1/k sum_i p(x, z_i) / q(z_i|x),
  z_i ~ q(z|x); L_1 <= L_k <= log p(x), L_k increases with k; with k = 5000 it is the usual
  "importance-sampled NLL" estimate.
- Decoders: Bernoulli for binary data; for data with L > 2 levels a discretised Gaussian: pixel value
  k/(L-1) gets the Gaussian mass of the bin of width 1/(L-1) around it, edge bins extended to
  +-infinity, so the likelihood is a proper distribution over the L levels and bits/dim are honest.
- Architectures: the MLP of Burda et al. (two tanh hidden layers of 200, 50 latent units for MNIST;
  Kingma & Welling used one hidden layer of 500) and a small convolutional variant.
- Several stochastic layers (Burda et al. 2016, Sec. 5, "two stochastic layers": 100 then 50 units,
  100-100 deterministic units between them): ``upper_layers=[50]`` adds Gaussian layers above the first,
  q(h1|x) q(h2|h1) and p(h2) p(h1|h2) p(x|h1). The KL terms are then estimated by sampling (as Burda
  et al. do); with one layer the KL is analytic.
- Optional KL warm-up (Sønderby et al. 2016, "Ladder Variational Autoencoders", Sec. 2.3; off by
  default, the papers above train without it): for the first ``kl_warmup_steps`` updates the training
  objective is log p(x|h1) + beta (log p(h) - log q(h|x)) with beta rising linearly from 1/n to 1, so
  that units of the upper layers can become useful before their KL cost is paid in full. It changes only
  the training objective; every reported bound uses beta = 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.special import log_ndtr

from genzoo.core import Batch, DataInfo
from genzoo.core.ranges import AT_LEAST_1, NON_NEGATIVE, ranged
from genzoo.models.base import GenerativeModel
from genzoo.registry import register_model

LOG_2PI = math.log(2 * math.pi)


@dataclass
class VAEConfig:
    latent_dim: int = ranged(50, AT_LEAST_1)
    hidden: list[int] = ranged([200, 200], AT_LEAST_1)  # MLP hidden sizes
    activation: Literal["tanh", "relu", "softplus"] = "tanh"  # tanh (the papers) | relu | softplus
    architecture: Literal["mlp", "conv"] = "mlp"  # mlp | conv
    conv_channels: list[int] = ranged([32, 64], AT_LEAST_1)
    decoder: Literal["auto", "bernoulli", "discretized-gaussian"] = "auto"  # auto | bernoulli | discretized-gaussian
    min_log_scale: float = -7.0  # floor on the discretised Gaussian's log sigma
    sample_mean: bool = True  # sample() returns E[x|z] (as the papers' figures) instead of a draw
    upper_layers: list[int] = ranged([], AT_LEAST_1)  # extra stochastic layers above latent_dim (MLP)
    upper_hidden: list[int] = ranged([100, 100], AT_LEAST_1)  # deterministic units between them
    kl_warmup_steps: int = ranged(0, NON_NEGATIVE)  # 0: none (the papers); n: KL weight (step + 1) / n up to 1
    init: Literal["torch", "glorot"] = "torch"  # torch: PyTorch's default | glorot: Burda et al.'s heuristic
    # default: PyTorch's | marginals: the decoder's output bias starts at the logit of the training data's mean
    # pixels, clipped to [0.001, 0.999] (Burda et al.'s released code; MLP decoders)
    out_bias: Literal["default", "marginals"] = "default"


def _activation(name: str) -> nn.Module:
    acts = {"tanh": nn.Tanh, "relu": nn.ReLU, "softplus": nn.Softplus}
    if name not in acts:
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(acts)}")
    return acts[name]()


def gaussian_kl_to_standard(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)), summed over the last dimension (K&W appendix B)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)


def gaussian_log_density(z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) / logvar.exp()).sum(-1)


def discretized_gaussian_log_prob(x: Tensor, mean: Tensor, log_scale: Tensor, levels: int) -> Tensor:
    """Log-mass of each sub-pixel value ``x`` (on the grid k/(levels-1)) under a discretised Gaussian.

    Bin edges are x -+ 1/(2(levels-1)), with the outermost edges at -+infinity. Computed in the lower
    tail (flipping signs where the bin lies above the mean) so small masses stay accurate.
    """
    half = 0.5 / (levels - 1)
    inv_scale = torch.exp(-log_scale)
    lo = torch.where(x <= half, torch.full_like(x, -math.inf), (x - half - mean) * inv_scale)
    hi = torch.where(x >= 1 - half, torch.full_like(x, math.inf), (x + half - mean) * inv_scale)
    flip = lo > 0
    a = torch.where(flip, -hi, lo)
    b = torch.where(flip, -lo, hi)
    log_a, log_b = log_ndtr(a), log_ndtr(b)
    diff = (log_a - log_b).clamp(max=-1e-12)
    log_mass = log_b + torch.log(-torch.expm1(diff))
    # a bin far in the tail: fall back to density x width, which is accurate there
    centre = (x - mean) * inv_scale
    approx = -0.5 * (centre.pow(2) + LOG_2PI) - log_scale + math.log(2 * half)
    return torch.where(torch.isfinite(log_mass) & (log_mass > -30), log_mass, torch.maximum(approx, log_mass))


def glorot_init(module: nn.Module) -> None:
    """Glorot & Bengio (2010) uniform weights, U(+-sqrt(6 / (fan_in + fan_out))), and zero biases on every
    linear and convolutional layer: the initialisation Burda et al. (2016, Sec. 5) name. PyTorch's default,
    U(+-1/sqrt(fan_in)), has a third of that variance on a square layer, so a signal shrinks through each tanh
    layer. (In short runs of the two-layer VAE it did not help; see BENCHMARKS.md, "Reproduction suite".)"""
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.xavier_uniform_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


def _mlp(sizes: list[int], activation: str) -> nn.Sequential:
    """Linear layers through ``sizes`` with ``activation`` between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(_activation(activation))
    return nn.Sequential(*layers)


class _MLPEncoder(nn.Module):
    def __init__(self, dims: int, cfg: VAEConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = dims
        for h in cfg.hidden:
            layers += [nn.Linear(width, h), _activation(cfg.activation)]
            width = h
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, 2 * cfg.latent_dim)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mu, logvar = self.head(self.body(x)).chunk(2, dim=-1)
        return mu, logvar


class _MLPDecoder(nn.Module):
    def __init__(self, shape: tuple[int, ...], out_per_pixel: int, cfg: VAEConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = cfg.latent_dim
        for h in reversed(cfg.hidden):
            layers += [nn.Linear(width, h), _activation(cfg.activation)]
            width = h
        self.shape = shape
        self.out_per_pixel = out_per_pixel
        dims = math.prod(shape)
        layers.append(nn.Linear(width, out_per_pixel * dims))
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).view(-1, self.out_per_pixel, *self.shape)


class _ConvEncoder(nn.Module):
    def __init__(self, shape: tuple[int, ...], cfg: VAEConfig) -> None:
        super().__init__()
        c, h, w = shape
        if h % 4 or w % 4:
            raise ValueError(f"the conv VAE needs height and width divisible by 4, got {h}x{w}")
        c1, c2 = cfg.conv_channels
        act = _activation(cfg.activation)
        self.body = nn.Sequential(
            nn.Conv2d(c, c1, 4, 2, 1), act, nn.Conv2d(c1, c2, 4, 2, 1), act, nn.Flatten(),
        )
        self.head = nn.Linear(c2 * (h // 4) * (w // 4), 2 * cfg.latent_dim)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mu, logvar = self.head(self.body(x)).chunk(2, dim=-1)
        return mu, logvar


class _ConvDecoder(nn.Module):
    def __init__(self, shape: tuple[int, ...], out_per_pixel: int, cfg: VAEConfig) -> None:
        super().__init__()
        c, h, w = shape
        c1, c2 = cfg.conv_channels
        self.start = (c2, h // 4, w // 4)
        self.shape, self.out_per_pixel = shape, out_per_pixel
        act = _activation(cfg.activation)
        self.fc = nn.Sequential(nn.Linear(cfg.latent_dim, math.prod(self.start)), act)
        self.net = nn.Sequential(
            nn.ConvTranspose2d(c2, c1, 4, 2, 1), act, nn.ConvTranspose2d(c1, out_per_pixel * c, 4, 2, 1)
        )

    def forward(self, z: Tensor) -> Tensor:
        out = self.net(self.fc(z).view(-1, *self.start))
        return out.view(-1, self.out_per_pixel, *self.shape)


@register_model("vae")
class VAE(GenerativeModel):
    """Variational autoencoder (Kingma & Welling 2013) with analytic KL and importance-weighted NLL."""

    Config = VAEConfig

    def __init__(self, config: VAEConfig, data_info: DataInfo) -> None:
        super().__init__(config, data_info)
        if len(data_info.shape) != 3:
            raise ValueError(f"the VAE models images (C, H, W), got data shape {data_info.shape}")
        decoder = config.decoder
        if decoder == "auto":
            decoder = "bernoulli" if data_info.levels == 2 else "discretized-gaussian"
        if decoder not in ("bernoulli", "discretized-gaussian"):
            raise ValueError(f"unknown decoder {decoder!r}; known: auto, bernoulli, discretized-gaussian")
        if decoder == "bernoulli" and data_info.levels != 2:
            raise ValueError(
                f"a Bernoulli decoder needs binary data, but this dataset has {data_info.levels} levels; "
                "use decoder=discretized-gaussian or binarized data (e.g. --data binarized-mnist)"
            )
        self.decoder_kind = decoder
        out_per_pixel = 1 if decoder == "bernoulli" else 2  # logits | (mean, log-scale)
        if config.architecture == "mlp":
            self.encoder: nn.Module = _MLPEncoder(data_info.dims, config)
            self.decoder: nn.Module = _MLPDecoder(data_info.shape, out_per_pixel, config)
        elif config.architecture == "conv":
            self.encoder = _ConvEncoder(data_info.shape, config)
            self.decoder = _ConvDecoder(data_info.shape, out_per_pixel, config)
        else:
            raise ValueError(f"unknown architecture {config.architecture!r}; known: mlp, conv")
        # q(h_{i+1} | h_i) and p(h_i | h_{i+1}) for the stochastic layers above the first
        sizes = [config.latent_dim, *config.upper_layers]
        self.upper_encoders = nn.ModuleList(
            _mlp([lo, *config.upper_hidden, 2 * hi], config.activation) for lo, hi in zip(sizes[:-1], sizes[1:])
        )
        self.upper_priors = nn.ModuleList(
            _mlp([hi, *reversed(config.upper_hidden), 2 * lo], config.activation)
            for lo, hi in zip(sizes[:-1], sizes[1:])
        )
        if config.init == "glorot":
            glorot_init(self)
        if config.out_bias == "marginals" and config.architecture != "mlp":
            raise ValueError("out_bias: marginals sets a bias per pixel, which only the MLP decoder has; "
                             "use architecture=mlp or out_bias=default")

    def init_from_data(self, pixel_mean: Tensor) -> None:
        """``out_bias: marginals``: start the decoder's output bias (the mean's, for a discretised Gaussian) at
        logit(clip(mean pixel, 0.001, 0.999)) of the training data, as Burda et al.'s released code does. The
        decoder then starts at the data's marginals instead of spending its first updates (and, with tanh
        hidden units, saturating them) on the mean image: the two-layer VAE's L_100 after 3 epochs is ~18
        nats better with it (BENCHMARKS.md, "Reproduction suite")."""
        if self.config.out_bias != "marginals":
            return
        p = pixel_mean.flatten().clamp(0.001, 0.999)
        with torch.no_grad():
            self.decoder.net[-1].bias[: p.numel()].copy_(torch.log(p) - torch.log1p(-p))

    @property
    def latent_dim(self) -> int:
        """Size of the top stochastic layer (the one with the N(0, I) prior)."""
        return (self.config.upper_layers or [self.config.latent_dim])[-1]

    # ----- the two distributions ----------------------------------------------------------------
    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and log-variance of q(z|x)."""
        return self.encoder(x)

    def _decoder_params(self, z: Tensor) -> tuple[Tensor, Tensor | None]:
        out = self.decoder(z)
        if self.decoder_kind == "bernoulli":
            return out[:, 0], None
        mean = torch.sigmoid(out[:, 0])
        log_scale = out[:, 1].clamp(min=self.config.min_log_scale)
        return mean, log_scale

    def log_likelihood(self, x: Tensor, z: Tensor) -> Tensor:
        """log p(x|z) summed over dimensions; ``z`` may hold several samples per x (rows repeat x)."""
        first, log_scale = self._decoder_params(z)
        if log_scale is None:
            ll = -F.binary_cross_entropy_with_logits(first, x, reduction="none")
        else:
            ll = discretized_gaussian_log_prob(x, first, log_scale, self.data_info.levels)
        return ll.flatten(1).sum(-1)

    def _mean_from_first(self, z1: Tensor) -> Tensor:
        first, log_scale = self._decoder_params(z1)
        return torch.sigmoid(first) if log_scale is None else first

    def _down(self, z: Tensor, generator: torch.Generator | None = None, use_mean: bool = False) -> Tensor:
        """From the top layer's code to the first layer's, through p(h_i | h_{i+1})."""
        for prior in reversed(self.upper_priors):
            mu, logvar = prior(z).chunk(2, dim=-1)
            if use_mean:
                z = mu
            else:
                eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
                z = mu + eps * (0.5 * logvar).exp()
        return z

    @torch.no_grad()
    def active_units(
        self, x: Tensor, samples: int = 10, threshold: float = 1e-2, generator: torch.Generator | None = None
    ) -> list[int]:
        """Active units of each stochastic layer (bottom first) on the images ``x`` (Burda et al. 2016,
        Sec. 5.2): unit u is active when ``Cov_x(E_q(h|x)[u]) > threshold``. The first layer's posterior
        mean is the encoder's; an upper layer's ``E_q[h_l|x]`` is averaged over ``samples`` draws of the
        layers below it."""
        mu, logvar = self.encode(x)
        means = [mu]
        sums = [torch.zeros(len(x), d, dtype=mu.dtype, device=mu.device) for d in self.config.upper_layers]
        for _ in range(samples if self.upper_encoders else 0):
            eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
            z = mu + eps * (0.5 * logvar).exp()
            for i, enc in enumerate(self.upper_encoders):
                m, lv = enc(z).chunk(2, dim=-1)
                sums[i] += m
                eps = torch.randn(m.shape, generator=generator, device=m.device, dtype=m.dtype)
                z = m + eps * (0.5 * lv).exp()
        means += [t / samples for t in sums]
        return [int((m.var(0, correction=0) > threshold).sum()) for m in means]

    def decode(self, z: Tensor, condition: object = None) -> Tensor:
        """E[x|z] in [0, 1] for a top-layer code ``z`` (lower layers, if any, at their conditional means)."""
        return self._mean_from_first(self._down(z, use_mean=True))

    def log_weight(self, x: Tensor) -> Tensor:
        """One-sample log p(x, h) - log q(h|x) for every example: the integrand of every bound."""
        log_lik, log_prior_ratio = self._log_weight_parts(x)
        return log_lik + log_prior_ratio

    def _log_weight_parts(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``log p(x|h1)`` and ``log p(h) - log q(h|x)`` of one sample h ~ q(h|x) per example."""
        log_lik, log_q, log_p = self.layer_log_densities(x)
        # summed bottom-up from the first q term and from the top prior, the order the bound always used
        return log_lik, sum(log_p[:-1], log_p[-1]) - sum(log_q[1:], log_q[0])

    def layer_log_densities(self, x: Tensor) -> tuple[Tensor, list[Tensor], list[Tensor]]:
        """For one sample h ~ q(h|x) per example: ``log p(x|h1)``, then ``log q(h_l|h_{l-1})`` and
        ``log p(h_l|h_{l+1})`` of each stochastic layer l (bottom first; the top one's prior is N(0, I)).
        The mean of ``log_q[l] - log_p[l]`` over h is that layer's KL term of the ELBO."""
        mu, logvar = self.encode(x)
        zs = [mu + torch.randn_like(mu) * (0.5 * logvar).exp()]
        log_q = [gaussian_log_density(zs[0], mu, logvar)]
        for enc in self.upper_encoders:
            m, lv = enc(zs[-1]).chunk(2, dim=-1)
            zs.append(m + torch.randn_like(m) * (0.5 * lv).exp())
            log_q.append(gaussian_log_density(zs[-1], m, lv))
        top = -0.5 * (LOG_2PI + zs[-1].pow(2)).sum(-1)
        log_p = [gaussian_log_density(zs[i], *prior(zs[i + 1]).chunk(2, dim=-1))
                 for i, prior in enumerate(self.upper_priors)]
        return self.log_likelihood(x, zs[0]), log_q, [*log_p, top]

    # ----- interface ------------------------------------------------------------------------------
    def elbo(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Per-example ELBO, reconstruction term and KL, with one reparameterised sample."""
        if self.upper_encoders:
            elbo = self.log_weight(x)
            nan = torch.full_like(elbo, float("nan"))  # the split needs the sampled h; not reported
            return elbo, nan, nan
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        rec = self.log_likelihood(x, z)
        kl = gaussian_kl_to_standard(mu, logvar)
        return rec - kl, rec, kl

    def kl_weight(self, step: int) -> float:
        """The KL term's weight in the training objective at ``step`` (1 without warm-up)."""
        n = self.config.kl_warmup_steps
        return min((step + 1) / n, 1.0) if n else 1.0

    def training_step(self, batch: Batch, step: int, group: str) -> dict[str, Tensor]:
        beta = self.kl_weight(step)
        if self.upper_encoders:
            rec, prior_ratio = self._log_weight_parts(batch["x"])
            elbo, objective = rec + prior_ratio, rec + beta * prior_ratio
        else:
            elbo, rec, kl = self.elbo(batch["x"])
            objective = rec - beta * kl
        loss = -objective.mean()
        # bits/dim of the ELBO itself (the bound), whatever the warm-up weight
        out = {"loss": loss, "bits_per_dim": -elbo.mean().detach() / (self.data_info.dims * math.log(2))}
        if not self.upper_encoders:
            out.update(reconstruction=-rec.mean().detach(), kl=kl.mean().detach())
        if beta < 1.0:
            out["kl_weight"] = torch.tensor(beta)
        return out

    def log_prob_bound(self, x: Tensor, k: int = 1, condition: object = None, chunk: int | None = None) -> Tensor:
        """k = 1: the ELBO (analytic KL, one sample). k > 1: the importance-weighted bound L_k.

        Samples are processed ``chunk`` at a time so memory stays bounded for k = 5000.
        """
        self.check_condition(x.shape[0], condition)
        if k == 1:
            return self.elbo(x)[0]
        if self.upper_encoders:
            n = len(x)
            chunk = chunk or max(1, 4096 // n)
            log_w = []
            for start in range(0, k, chunk):
                m = min(chunk, k - start)
                x_rep = x.unsqueeze(0).expand(m, *x.shape).reshape(m * n, *x.shape[1:])
                log_w.append(self.log_weight(x_rep).view(m, n))
            return torch.logsumexp(torch.cat(log_w), dim=0) - math.log(k)
        mu, logvar = self.encode(x)
        std = (0.5 * logvar).exp()
        n = len(x)
        chunk = chunk or max(1, 4096 // n)
        log_w = []
        for start in range(0, k, chunk):
            m = min(chunk, k - start)
            eps = torch.randn(m, *mu.shape, device=x.device, dtype=mu.dtype)
            z = mu + eps * std  # (m, n, d)
            log_q = gaussian_log_density(z, mu, logvar)
            log_p_z = -0.5 * (LOG_2PI + z.pow(2)).sum(-1)
            x_rep = x.unsqueeze(0).expand(m, *x.shape).reshape(m * n, *x.shape[1:])
            log_px_z = self.log_likelihood(x_rep, z.reshape(m * n, -1)).view(m, n)
            log_w.append(log_px_z + log_p_z - log_q)
        return torch.logsumexp(torch.cat(log_w), dim=0) - math.log(k)

    def sample(
        self, n: int, condition: object = None, generator: torch.Generator | None = None,
        mean: bool | None = None,
    ) -> Tensor:
        self.check_condition(n, condition)
        dtype = next(self.parameters()).dtype
        z = torch.randn(n, self.latent_dim, generator=generator, device=self.device, dtype=dtype)
        z1 = self._down(z, generator)
        x_mean = self._mean_from_first(z1)
        if self.config.sample_mean if mean is None else mean:
            return x_mean
        first, log_scale = self._decoder_params(z1)
        if log_scale is None:
            return torch.bernoulli(x_mean, generator=generator)
        noise = torch.randn(first.shape, generator=generator, device=self.device, dtype=first.dtype)
        levels = self.data_info.levels - 1
        return ((first + noise * log_scale.exp()).clamp(0, 1) * levels).round() / levels

    # ----- pictures -------------------------------------------------------------------------------
    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        """E[x | z = mu(x)]: the decoder mean at the encoder mean."""
        mu, _ = self.encode(x)
        return self._mean_from_first(mu)

    @torch.no_grad()
    def manifold(self, grid: int = 20) -> Tensor:
        """Decoder means over a grid of latent values (K&W Fig. 4): the unit square mapped through the
        inverse Gaussian CDF, so the grid covers the prior's mass evenly. Needs ``latent_dim == 2``."""
        if self.latent_dim != 2:
            raise ValueError(f"the manifold picture needs latent_dim=2, this model has {self.latent_dim}")
        p = torch.linspace(0.5 / grid, 1 - 0.5 / grid, grid, device=self.device)
        u = torch.distributions.Normal(0.0, 1.0).icdf(p)
        zy, zx = torch.meshgrid(u.flip(0), u, indexing="ij")
        return self.decode(torch.stack([zx.reshape(-1), zy.reshape(-1)], dim=1))
