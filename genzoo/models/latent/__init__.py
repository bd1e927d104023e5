"""Latent-variable models trained on a variational bound: the VAE (one or several stochastic layers)."""
