"""Video models: VGAN (two-stream scene dynamics) and the Video Pixel Network."""
