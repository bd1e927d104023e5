"""DRAW: a recurrent variational autoencoder that builds an image on a canvas over T steps
(Gregor et al. 2015, "DRAW: A Recurrent Neural Network For Image Generation").

One step ``t = 1..T`` (Sec. 2, Eq. 3-8)::

    x^_t    = x - sigmoid(c_{t-1})                          error image (Eq. 3)
    r_t     = read(x, x^_t, h^dec_{t-1})                    (Eq. 4)
    h^enc_t = LSTM^enc(h^enc_{t-1}, [r_t, h^dec_{t-1}])     (Eq. 5)
    z_t     ~ Q(Z_t | h^enc_t) = N(mu_t, sigma_t)           mu_t = W h^enc_t, sigma_t = exp(W h^enc_t) (Eq. 1, 2, 6)
    h^dec_t = LSTM^dec(h^dec_{t-1}, z_t)                    (Eq. 7)
    c_t     = c_{t-1} + write(h^dec_t)                      (Eq. 8)

The loss is the negative variational bound (Sec. 2.1, Eq. 9-12): the reconstruction term
``-log D(x | c_T)`` plus the latent loss, the per-step KL to the N(0, I) prior summed over the T steps
(Eq. 11: ``sum_t 1/2 (mu_t^2 + sigma_t^2 - log sigma_t^2) - T/2``). ``D`` is Bernoulli with mean
``sigmoid(c_T)`` for binary data (the paper's MNIST); for 8-bit data the canvas carries a second set of
channels, the log-scale of a discretised Gaussian over the ``levels`` values (as genzoo's VAE), so the
bound is a proper discrete likelihood and bits/dim are honest. That log-scale canvas starts at
``init_log_scale`` and is floored at a quarter of a bin (``min_log_scale``; genzoo's choices, the paper
has no 8-bit likelihood).

Reading and writing (Sec. 3): without attention ``read = [x, x^_t]`` and ``write = W(h^dec_t)`` over the
whole image (Eq. 17, 18). With attention (:mod:`genzoo.nn.attention`) ``read`` is two ``N x N`` glimpses
``gamma [F_Y x F_X^T, F_Y x^ F_X^T]`` (Eq. 27) and ``write`` is ``1/gamma^ F^_Y^T w_t F^_X`` with an
``N x N`` patch ``w_t = W(h^dec_t)`` and its own grid parameters (Eq. 28, 29).

Generation (Sec. 2.3): ``z_t ~ N(0, I)``, ``h^dec_t = LSTM^dec(h^dec_{t-1}, z_t)``, ``c_t = c_{t-1} +
write(h^dec_t)``; :meth:`DRAW.canvas_sequence` returns ``sigmoid(c_t)`` for every ``t`` (the paper's
Fig. 7/9/10), and :meth:`DRAW.sample` the last of them (or a draw from ``D``).

The importance-weighted bound (Burda et al. 2016) takes the whole sequence ``z_{1:T}`` as the latent:
``log w = log D(x | c_T) + sum_t [log N(z_t; 0, I) - log Q(z_t | h^enc_t)]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.core import Batch, ConfigError, DataInfo
from genzoo.core.ranges import AT_LEAST_1, ranged
from genzoo.models.base import GenerativeModel
from genzoo.models.latent.vae import discretized_gaussian_log_prob
from genzoo.nn.attention import FilterbankHead, filterbanks, read_glimpse, write_patch
from genzoo.registry import register_model

LOG_2PI = math.log(2 * math.pi)


@dataclass
class DRAWConfig:
    """Defaults: the paper's binarized-MNIST model with attention (Table 2 / Sec. 4.2)."""

    steps: int = 64  # T, glimpses
    enc_size: int = 256  # LSTM units of the encoder
    dec_size: int = 256  # LSTM units of the decoder
    latent_dim: int = ranged(100, AT_LEAST_1)  # size of each z_t
    attention: bool = True  # false: read and write the whole image (the paper's "no attention" model)
    read_n: int = 2  # N of the read grid
    write_n: int = 5  # N of the write grid
    output: str = "auto"  # auto | bernoulli | discretized-gaussian
    min_log_scale: float | None = None  # floor on the discretised Gaussian's log sigma; None: log(bin width / 4)
    init_log_scale: float = -2.0  # the log-sigma canvas starts here (8-bit output; writes add to it)
    sample_mean: bool = True  # sample() returns sigmoid(c_T) (as the paper's figures) instead of a draw


@register_model("draw")
class DRAW(GenerativeModel):
    """DRAW (Gregor et al. 2015): LSTM encoder/decoder, canvas over T steps, Gaussian filterbank attention."""

    Config = DRAWConfig

    def __init__(self, config: DRAWConfig, data_info: DataInfo) -> None:
        super().__init__(config, data_info)
        if len(data_info.shape) != 3:
            raise ConfigError(f"DRAW models images (C, H, W), got data shape {data_info.shape}")
        c, h, w = data_info.shape
        output = config.output
        if output == "auto":
            output = "bernoulli" if data_info.levels == 2 else "discretized-gaussian"
        if output not in ("bernoulli", "discretized-gaussian"):
            raise ConfigError(f"model.output={output!r} is unknown; known: auto, bernoulli, discretized-gaussian")
        if output == "bernoulli" and data_info.levels != 2:
            raise ConfigError(
                f"model.output=bernoulli needs binary data, but this dataset has {data_info.levels} levels; "
                "use model.output=discretized-gaussian or binarized data (e.g. --data binarized-mnist)"
            )
        if config.steps < 1 or config.latent_dim < 1 or config.enc_size < 1 or config.dec_size < 1:
            raise ConfigError("model.steps, latent_dim, enc_size and dec_size must be positive")
        if config.attention:
            for field_name in ("read_n", "write_n"):
                n = getattr(config, field_name)
                if n < 1 or n > min(h, w):
                    raise ConfigError(
                        f"model.{field_name}={n}: the attention grid must be 1..{min(h, w)} for {h}x{w} images "
                        f"(an N x N grid larger than the image)"
                    )
        self.output = output
        # a sigma below a quarter of a bin buys < 5% more mass in the right bin but makes a wrong mean ruinous
        floor = config.min_log_scale
        self.min_log_scale = math.log(0.25 / (data_info.levels - 1)) if floor is None else float(floor)
        self.channels = c
        self.canvas_channels = c if output == "bernoulli" else 2 * c
        read_size = 2 * c * (config.read_n**2 if config.attention else h * w)
        write_size = self.canvas_channels * (config.write_n**2 if config.attention else h * w)
        self.encoder = nn.LSTMCell(read_size + config.dec_size, config.enc_size)
        self.decoder = nn.LSTMCell(config.latent_dim, config.dec_size)
        self.q_head = nn.Linear(config.enc_size, 2 * config.latent_dim)  # mu_t and log sigma_t (Eq. 1, 2)
        self.write_head = nn.Linear(config.dec_size, write_size)
        if config.attention:
            self.read_attention = FilterbankHead(config.dec_size, config.read_n, h, w)
            self.write_attention = FilterbankHead(config.dec_size, config.write_n, h, w)

    @property
    def latent_dim(self) -> int:
        """Size of one step's code ``z_t`` (the whole latent is ``steps x latent_dim``)."""
        return self.config.latent_dim

    # ----- read / write ----------------------------------------------------------------------------
    def read(self, x: Tensor, x_err: Tensor, h_dec: Tensor) -> Tensor:
        """Eq. 17 (no attention) or Eq. 27 (two N x N glimpses, same grid), flattened."""
        if not self.config.attention:
            return torch.cat([x.flatten(1), x_err.flatten(1)], dim=1)
        _, h, w = self.data_info.shape
        p = self.read_attention(h_dec)
        fx, fy = filterbanks(p, self.config.read_n, h, w)
        both = read_glimpse(torch.cat([x, x_err], dim=1), fx, fy, p.gamma)
        return both.flatten(1)

    def write(self, h_dec: Tensor) -> Tensor:
        """Eq. 18 (no attention) or Eq. 29 (an N x N patch through the transposed filterbank, / gamma)."""
        _, h, w = self.data_info.shape
        out = self.write_head(h_dec)
        if not self.config.attention:
            return out.view(-1, self.canvas_channels, h, w)
        n = self.config.write_n
        p = self.write_attention(h_dec)
        fx, fy = filterbanks(p, n, h, w)
        return write_patch(out.view(-1, self.canvas_channels, n, n), fx, fy, p.gamma)

    def _zeros(self, n: int, size: int, like: Tensor) -> Tensor:
        return torch.zeros(n, size, device=like.device, dtype=like.dtype)

    def _canvas0(self, n: int, like: Tensor) -> Tensor:
        """c_0: zeros (sigmoid 1/2), and ``init_log_scale`` in the log-sigma channels of an 8-bit output."""
        _, h, w = self.data_info.shape
        canvas = torch.zeros(n, self.canvas_channels, h, w, device=like.device, dtype=like.dtype)
        canvas[:, self.channels :] = self.config.init_log_scale
        return canvas

    # ----- inference ---------------------------------------------------------------------------------
    def infer(self, x: Tensor) -> dict[str, Tensor]:
        """One pass of the T steps with reparameterised ``z_t ~ Q``: per-example ``log_px`` (log D(x | c_T)),
        ``kl`` (Eq. 11, summed over steps), ``log_pz`` and ``log_qz`` (sums over steps at the drawn z)."""
        n = x.shape[0]
        cfg = self.config
        like = next(self.parameters())
        x = x.to(like.dtype)
        canvas = self._canvas0(n, like)
        h_enc, c_enc = self._zeros(n, cfg.enc_size, like), self._zeros(n, cfg.enc_size, like)
        h_dec, c_dec = self._zeros(n, cfg.dec_size, like), self._zeros(n, cfg.dec_size, like)
        kl = x.new_zeros(n)
        log_pz = x.new_zeros(n)
        log_qz = x.new_zeros(n)
        for _ in range(cfg.steps):
            x_err = x - torch.sigmoid(canvas[:, : self.channels])
            r = self.read(x, x_err, h_dec)
            h_enc, c_enc = self.encoder(torch.cat([r, h_dec], dim=1), (h_enc, c_enc))
            mu, log_sigma = self.q_head(h_enc).chunk(2, dim=1)
            eps = torch.randn_like(mu)
            z = mu + eps * log_sigma.exp()
            kl = kl + 0.5 * (mu.pow(2) + torch.exp(2 * log_sigma) - 2 * log_sigma - 1).sum(1)
            log_qz = log_qz - 0.5 * (LOG_2PI + eps.pow(2)).sum(1) - log_sigma.sum(1)
            log_pz = log_pz - 0.5 * (LOG_2PI + z.pow(2)).sum(1)
            h_dec, c_dec = self.decoder(z, (h_dec, c_dec))
            canvas = canvas + self.write(h_dec)
        return {"log_px": self.log_likelihood(x, canvas), "kl": kl, "log_pz": log_pz, "log_qz": log_qz}

    def log_likelihood(self, x: Tensor, canvas: Tensor) -> Tensor:
        """``log D(x | c_T)`` summed over dimensions (Eq. 9), nats of the discrete data."""
        c = self.channels
        if self.output == "bernoulli":
            ll = -F.binary_cross_entropy_with_logits(canvas, x, reduction="none")
        else:
            mean = torch.sigmoid(canvas[:, :c])
            log_scale = canvas[:, c:].clamp(min=self.min_log_scale)
            ll = discretized_gaussian_log_prob(x, mean, log_scale, self.data_info.levels)
        return ll.flatten(1).sum(1)

    # ----- interface -------------------------------------------------------------------------------
    def training_step(self, batch: Batch, step: int, group: str) -> dict[str, Tensor]:
        out = self.infer(batch["x"])
        rec, kl = -out["log_px"].mean(), out["kl"].mean()
        loss = rec + kl
        return {"loss": loss, "reconstruction": rec.detach(), "kl": kl.detach(),
                "bits_per_dim": loss.detach() / (self.data_info.dims * math.log(2))}

    def log_prob_bound(
        self, x: Tensor, k: int = 1, condition: object = None, chunk: int | None = None
    ) -> Tensor:
        """``k = 1``: the variational bound of Eq. 12 (analytic per-step KL, one sample of ``z_{1:T}``).
        ``k > 1``: the importance-weighted bound L_k over whole sequences ``z_{1:T}`` (Burda et al. 2016),
        ``chunk`` sequences at a time."""
        self.check_condition(x.shape[0], condition)
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ConfigError(f"the number of importance samples must be a positive integer, got {k!r}")
        if k == 1:
            out = self.infer(x)
            return out["log_px"] - out["kl"]
        n = x.shape[0]
        chunk = chunk or max(1, 2048 // n)
        log_w = []
        for start in range(0, k, chunk):
            m = min(chunk, k - start)
            rep = x.unsqueeze(0).expand(m, *x.shape).reshape(m * n, *x.shape[1:])
            out = self.infer(rep)
            log_w.append((out["log_px"] + out["log_pz"] - out["log_qz"]).view(m, n))
        return torch.logsumexp(torch.cat(log_w), dim=0) - math.log(k)

    def _generate(self, n: int, generator: torch.Generator | None) -> tuple[Tensor, list[Tensor]]:
        """Run the decoder from the prior; the final canvas and ``sigmoid(c_t)`` for t = 1..T."""
        cfg = self.config
        like = next(self.parameters())
        canvas = self._canvas0(n, like)
        h_dec, c_dec = self._zeros(n, cfg.dec_size, like), self._zeros(n, cfg.dec_size, like)
        frames = []
        for _ in range(cfg.steps):
            z = torch.randn(n, cfg.latent_dim, generator=generator, device=like.device, dtype=like.dtype)
            h_dec, c_dec = self.decoder(z, (h_dec, c_dec))
            canvas = canvas + self.write(h_dec)
            frames.append(torch.sigmoid(canvas[:, : self.channels]))
        return canvas, frames

    @torch.no_grad()
    def canvas_sequence(
        self, n: int, condition: object = None, generator: torch.Generator | None = None
    ) -> Tensor:
        """The canvases ``sigmoid(c_t)``, ``t = 1..T``, as ``(n, T, C, H, W)`` (Sec. 2.3, the paper's figures).
        Draws the same random numbers as :meth:`sample`, so ``[:, -1]`` is what ``sample`` returns
        for the same generator state (with ``sample_mean``)."""
        self.check_condition(n, condition)
        _, frames = self._generate(n, generator)
        return torch.stack(frames, dim=1)

    @torch.no_grad()
    def sample(
        self, n: int, condition: object = None, generator: torch.Generator | None = None,
        mean: bool | None = None,
    ) -> Tensor:
        self.check_condition(n, condition)
        canvas, frames = self._generate(n, generator)
        x_mean = frames[-1]
        if self.config.sample_mean if mean is None else mean:
            return x_mean
        if self.output == "bernoulli":
            return torch.bernoulli(x_mean, generator=generator)
        c = self.channels
        scale = canvas[:, c:].clamp(min=self.min_log_scale).exp()
        noise = torch.randn(x_mean.shape, generator=generator, device=x_mean.device, dtype=x_mean.dtype)
        levels = self.data_info.levels - 1
        return ((x_mean + noise * scale).clamp(0, 1) * levels).round() / levels
