"""Guided synthesis in a generator's code space: DGN-AM (Nguyen et al. 2016b) and Plug & Play Generative
Networks (Nguyen et al. 2016a), both on a generator trained to invert a classifier's features."""
