"""The GAN's diversity statistic is logged on every 10th generator step only (a cost, not a loss)."""

from __future__ import annotations

import torch

from genzoo.core import DataInfo
from genzoo.models.adversarial.mlp_gan import GAN, GANConfig


def test_diversity_every_tenth_step() -> None:
    torch.manual_seed(0)
    model = GAN(GANConfig(latent_dim=8, g_hidden=[16], d_units=[16]), DataInfo((1, 8, 8), 17))
    batch = {"x": torch.rand(6, 1, 8, 8)}
    present = [s for s in range(25) if "diversity" in model.training_step(batch, s, "generator")]
    assert present == [0, 10, 20]
    out = model.training_step(batch, 10, "generator")
    assert 0.0 < float(out["diversity"]) < 10.0
