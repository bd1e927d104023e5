"""Image-to-image translation: models conditioned on a source image (pix2pix)."""
