"""Autoregressive models with exact likelihoods: NADE, PixelCNN (masked and gated) and PixelRNN."""
