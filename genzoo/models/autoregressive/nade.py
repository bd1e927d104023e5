"""NADE: the Neural Autoregressive Distribution Estimator (Larochelle & Murray, AISTATS 2011).

Binary images are flattened (``x.flatten(1)`` of ``(C, H, W)``) to ``x in {0,1}^D`` and modelled as
``p(x) = prod_d p(x_d | x_<d)`` (Eq. 1) with, for every ``d`` (Eqs. 2-3),

    h_d = sigmoid(c + W[:, <d] x_<d)                  (hidden layer of size H, weights W: H x D)
    p(x_d = 1 | x_<d) = sigmoid(b_d + V[d] . h_d)     (V: D x H)

The weight matrix ``W`` is *tied* across the ``D`` conditionals, so the pre-activations obey the
recurrence ``a_1 = c``, ``a_{d+1} = a_d + W[:, d] x_d`` (Eq. 4) and the whole likelihood costs
``O(DH)`` instead of ``O(D^2 H)``. :meth:`NADE.log_prob` evaluates the recurrence for all ``d`` with
:func:`genzoo.nn.nade_fused.nade_logits` (a native CPU kernel, or blocked triangular GEMMs; no stored
``N x D x H`` activations); :meth:`NADE.logits_reference` is the plain-autograd formulation with an
exclusive cumulative sum, which the fast path is tested against. The fast sampler
(:meth:`NADE.sample`, ``method="fast"``) carries ``a_d`` along while sampling (``O(DH)`` per image),
and the reference sampler (``method="naive"``) recomputes ``a_d = c + W[:, <d] x_<d`` from scratch at every step
(``O(D^2 H)``). Both draw one uniform per pixel up front and sample by inverse CDF, so the same
generator state gives identical images.

Variable order: the flattening is channel-major. For one channel (every dataset NADE is used on here)
that is raster order; for ``C > 1`` channels it is all pixels of channel 0 in raster order, then all of
channel 1, and so on, unlike genzoo's PixelCNN/PixelRNN, which go in raster order over pixels with the
channels R -> G -> B inside each pixel. Both are valid autoregressive orders (the likelihood is exact
either way) but their conditionals, and so their samples' failure modes, differ.

Defaults follow the paper: ``H = 500`` hidden units, sigmoid hidden layer, Bernoulli outputs (binary
data only; NADE for other data types needs different conditionals and is not implemented here).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.core import Batch, DataInfo
from genzoo.core.ranges import AT_LEAST_1, NON_NEGATIVE, ranged
from genzoo.models.base import GenerativeModel
from genzoo.nn.discrete import discrete_log_prob
from genzoo.nn.nade_fused import nade_logits
from genzoo.registry import register_model


@dataclass
class NADEConfig:
    """NADE hyper-parameters (Larochelle & Murray 2011: 500 hidden units)."""

    hidden: int = ranged(500, AT_LEAST_1)
    #: std of the normal initialisation of W and V (biases start at 0)
    init_std: float = ranged(0.01, NON_NEGATIVE)


@register_model("nade")
class NADE(GenerativeModel):
    """NADE (Larochelle & Murray 2011, Eqs. 1-4): tied-weight autoregressive model of binary images."""

    Config = NADEConfig
    #: pixels per block of the vectorised likelihood (memory N x BLOCK x H instead of N x D x H)
    BLOCK = 56
    #: pixels per block of the fused likelihood (:mod:`genzoo.nn.nade_fused`); fastest measured on one core
    FUSED_BLOCK = 16

    def __init__(self, config: NADEConfig, data_info: DataInfo) -> None:
        super().__init__(config, data_info)
        if data_info.levels != 2:
            raise ValueError(
                f"NADE models binary data (levels == 2); this dataset has levels = {data_info.levels}. "
                "Binarize it (e.g. mnist with binarize='dynamic', or binarized-mnist)."
            )
        d, h = data_info.dims, config.hidden
        self.D, self.H = d, h
        self.W = nn.Parameter(torch.randn(h, d) * config.init_std)  # H x D, input -> hidden (tied)
        self.c = nn.Parameter(torch.zeros(h))
        self.V = nn.Parameter(torch.randn(d, h) * config.init_std)  # D x H, hidden -> output d
        self.b = nn.Parameter(torch.zeros(d))

    # ----- likelihood ------------------------------------------------------------------------------
    def logits(self, x: Tensor) -> Tensor:
        """``(N, D)`` logits of ``p(x_d = 1 | x_<d)`` for flattened binary ``x`` (Eqs. 2-4, O(DH)).

        :func:`genzoo.nn.nade_fused.nade_logits`: a native CPU kernel (one cache-resident pass per pixel,
        the paper's O(DH) backward recurrence) or, elsewhere, a blocked torch formulation (triangular GEMMs
        per block of ``FUSED_BLOCK`` pixels); both recompute instead of storing ``N x D x H`` activations
        and give the numbers of :meth:`logits_reference` up to float summation order.
        """
        return nade_logits(x, self.W, self.c, self.V, self.b, self.FUSED_BLOCK)

    def logits_reference(self, x: Tensor) -> Tensor:
        """The reference formulation of :meth:`logits` (plain autograd; kept for tests and benchmarks).

        Pixels are processed in blocks of ``BLOCK``: the pre-activation at the start of a block is the
        running sum ``c + W[:, <start] x_<start`` (Eq. 4), inside a block an exclusive cumulative sum
        adds ``W[:, d] x_d`` one pixel at a time; this keeps the temporaries at ``N x BLOCK x H``.
        """
        x = x.reshape(x.shape[0], -1)
        prefix = self.c.expand(x.shape[0], self.H)  # c + W[:, <start] x_<start
        out = []
        for s in range(0, self.D, self.BLOCK):
            xb, wb = x[:, s : s + self.BLOCK], self.W[:, s : s + self.BLOCK].t()  # (N, B), (B, H)
            contrib = xb.unsqueeze(2) * wb.unsqueeze(0)  # (N, B, H): W[:, d] x_d
            h = torch.sigmoid(prefix.unsqueeze(1) + torch.cumsum(contrib, 1) - contrib)
            out.append(torch.einsum("nbh,bh->nb", h, self.V[s : s + self.BLOCK]) + self.b[s : s + self.BLOCK])
            prefix = prefix + xb @ wb
        return torch.cat(out, dim=1)

    def log_prob(self, x: Tensor, condition: object = None) -> Tensor:
        """Exact ``log p(x)`` in nats, shape ``(N,)`` (Eq. 1)."""
        self.check_condition(x.shape[0], condition)
        x = x.reshape(x.shape[0], -1)
        return discrete_log_prob(self.logits(x), x, 2)

    def training_step(self, batch: Batch, step: int, group: str) -> dict[str, Tensor]:
        """Mean negative log-likelihood per image (nats); bits/dim logged too."""
        nll = -self.log_prob(batch["x"]).mean()
        return {"loss": nll, "nll": nll.detach(), "bits_per_dim": nll.detach() / (self.D * math.log(2))}

    # ----- sampling --------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(
        self,
        n: int,
        condition: object = None,
        generator: torch.Generator | None = None,
        method: str = "fast",
    ) -> Tensor:
        """``n`` images in ``{0, 1}``, shape ``(n, *data_info.shape)``.

        ``method="fast"``: running pre-activations, O(DH) per image. ``method="naive"``: recompute
        ``p(x_d | x_<d)`` from scratch at every step, O(D^2 H); same generator => same images.
        """
        self.check_condition(n, condition)
        dev = self.device
        u = torch.rand(n, self.D, generator=generator, device=generator.device if generator else dev).to(dev)
        # inverse CDF for a Bernoulli: x_d = 1 iff u_d < sigmoid(l_d) iff l_d > logit(u_d); the thresholds
        # are computed once, so each step compares logits instead of applying a sigmoid
        thresholds = torch.logit(u).t().contiguous()  # (D, n): row d for pixel d
        x = torch.zeros(self.D, n, device=dev)  # pixel-major, so x[d] is contiguous
        if method == "fast":
            a = self.c.expand(n, self.H).clone()  # running pre-activation c + W[:, <d] x_<d (Eq. 4)
            w_rows = self.W.t().contiguous()  # row d = W[:, d]
            h = torch.empty_like(a)
            logit = torch.empty(n, device=dev)
            for d in range(self.D):  # a handful of in-place ops per pixel: the loop is overhead-bound
                torch.sigmoid(a, out=h)
                torch.mv(h, self.V[d], out=logit)
                torch.gt(logit.add_(self.b[d]), thresholds[d], out=x[d])
                a.addr_(x[d], w_rows[d])  # a += x_d W[:, d]
        elif method == "naive":
            for d in range(self.D):
                a = self.c + x[:d].t() @ self.W[:, :d].t()  # recomputed from scratch: O(dH)
                logit = F.linear(torch.sigmoid(a), self.V[d : d + 1], self.b[d : d + 1]).squeeze(1)
                x[d] = (logit > thresholds[d]).to(x.dtype)
        else:
            raise ValueError(f"method must be 'fast' or 'naive', got {method!r}")
        return x.t().reshape(n, *self.data_info.shape)
