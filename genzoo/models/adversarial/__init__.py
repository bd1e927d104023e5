"""Adversarial models: the shared two-player base, the MLP GAN and cGAN, DCGAN, AC-GAN and LAPGAN."""
