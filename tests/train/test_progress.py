"""The progress bar shows every player's loss."""

from __future__ import annotations

from genzoo.train.progress import postfix, postfix_keys


def test_gan_bar_shows_both_players() -> None:
    rec = {"step": 10, "epoch": 0.1, "split": "train", "images_per_s": 900.0,
           "discriminator/loss": 1.2, "discriminator/d_loss": 1.2, "discriminator/d_real": 0.6,
           "discriminator/diverged": 0.0, "generator/loss": 0.8, "generator/g_loss": 0.8}
    keys = postfix_keys(rec, limit=3)
    assert keys[:2] == ["discriminator/loss", "generator/loss"]
    assert postfix(rec, limit=2) == {"d/loss": "1.2", "g/loss": "0.8"}


def test_single_group_shows_loss_then_headline() -> None:
    rec = {"step": 5, "split": "train", "kl": 3.0, "loss": 90.0, "recon": 87.0, "bits_per_dim": 0.2, "lr": 1e-3}
    assert postfix_keys(rec, limit=3) == ["loss", "bits_per_dim", "kl"]
