"""Text-to-image models: GAN-INT-CLS (Reed et al. 2016a) and GAWWN (Reed et al. 2016b)."""
