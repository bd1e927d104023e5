"""Video models: the VPN's causal structure, normalisation and samplers; VGAN's two-stream composition."""

from __future__ import annotations

import itertools

import pytest
import torch

from genzoo.core import Batch, ConditionError, DataInfo, FramesSpec, UsageError
from genzoo.models.video.vgan import VGAN, VGANConfig
from genzoo.models.video.vpn import GreyTargetVPN, VideoPixelNetwork, VPNConfig, grey_target_entropy

TINY = {"channels": 6, "encoder_blocks": 1, "dilations": [1, 2], "lstm_channels": 4, "decoder_blocks": 1}


def _vpn(shape, levels, conditional=False, context=2, **over) -> VideoPixelNetwork:
    torch.manual_seed(0)
    conds = (FramesSpec(shape=(context, *shape[1:])),) if conditional else ()
    cfg = VPNConfig(**{**TINY, **over}, conditional=conditional)
    return VideoPixelNetwork(cfg, DataInfo(shape, levels, conditions=conds))


@pytest.mark.parametrize("levels", [2, 4])
def test_vpn_causal_structure_by_gradients(levels):
    """The logits of sub-pixel (t, c, i, j) depend on frames < t, on pixels of frame t before (i, j) in
    raster order and on colours < c of (i, j) itself, and on nothing else (VPN Eq. 2)."""
    T, C, H, W = 3, 3, 5, 5
    m = _vpn((T, C, H, W), levels)
    ctx = torch.zeros(1, 0, C, H, W)
    for t, c, i, j in [(0, 0, 0, 0), (1, 1, 2, 2), (2, 2, 4, 1), (1, 0, 3, 4)]:
        x = torch.rand(1, T, C, H, W, requires_grad=True)
        out = m.network(x, ctx)
        logit = out[0, t, c] if levels == 2 else out[0, t].view(levels, C, H, W)[:, c]
        (logit[..., i, j] if levels == 2 else logit[:, i, j]).sum().backward()
        dep = x.grad[0] != 0
        allowed = torch.zeros(T, C, H, W, dtype=torch.bool)
        allowed[:t] = True
        order = torch.arange(H * W).view(H, W)
        allowed[t, :, order < i * W + j] = True
        allowed[t, :c, i, j] = True
        assert not (dep & ~allowed).any(), f"logit {(t, c, i, j)} sees a later sub-pixel"
        if t > 0:
            assert dep[:t].any(), "no dependence on earlier frames"
        if i * W + j > 0:
            assert dep[t][allowed[t]].any(), "no dependence on earlier pixels of the frame"


def test_vpn_likelihood_normalises_on_all_binary_two_frame_videos():
    m = _vpn((2, 1, 2, 2), 2)
    videos = torch.tensor(list(itertools.product([0.0, 1.0], repeat=8))).view(-1, 2, 1, 2, 2)
    with torch.no_grad():
        total = m.log_prob(videos).exp().sum()
    assert abs(float(total) - 1.0) < 1e-5


def test_conditional_vpn_normalises_given_a_context():
    m = _vpn((1, 1, 2, 2), 2, conditional=True, context=2)
    videos = torch.tensor(list(itertools.product([0.0, 1.0], repeat=4))).view(-1, 1, 1, 2, 2)
    ctx = torch.rand(1, 2, 1, 2, 2).round().expand(len(videos), -1, -1, -1, -1)
    with torch.no_grad():
        total = m.log_prob(videos, {"context": ctx}).exp().sum()
    assert abs(float(total) - 1.0) < 1e-5


@pytest.mark.parametrize("levels,conditional", [(2, True), (4, False)])
def test_vpn_fast_sampler_draws_the_naive_samplers_videos(levels, conditional):
    shape = (2, 1, 6, 6) if levels == 2 else (2, 3, 4, 4)
    m = _vpn(shape, levels, conditional=conditional, decoder_blocks=1, channels=6)
    cond = {"context": torch.rand(3, 2, *shape[1:]).round()} if conditional else None
    a = m.sample(3, cond, torch.Generator().manual_seed(5), method="naive")
    b = m.sample(3, cond, torch.Generator().manual_seed(5), method="fast")
    assert a.shape == (3, *shape)
    assert torch.equal(a, b)
    assert set(torch.unique(a * (levels - 1)).tolist()) <= set(range(levels))


def test_vpn_fast_sampler_window_is_exact_when_smaller_than_the_frame():
    """Frames wider than the decoder's reach: the windowed decoder must still match the whole-frame one."""
    m = _vpn((1, 1, 9, 9), 2, decoder_blocks=1, channels=2)
    assert 2 * m.reach + 1 < 9
    a = m.sample(2, None, torch.Generator().manual_seed(1), method="naive")
    b = m.sample(2, None, torch.Generator().manual_seed(1), method="fast")
    assert torch.equal(a, b)


def test_grey_vpn_cross_entropy_equals_nll_on_binary_frames_and_is_bounded_by_target_entropy():
    torch.manual_seed(0)
    cfg = VPNConfig(**TINY, conditional=False)
    grey = GreyTargetVPN(cfg, DataInfo((2, 1, 4, 4), 256))
    exact = VideoPixelNetwork(cfg, DataInfo((2, 1, 4, 4), 2))
    exact.load_state_dict(grey.state_dict())
    binary = torch.rand(3, 2, 1, 4, 4).round()
    with torch.no_grad():
        assert torch.allclose(grey.cross_entropy(binary).sum(1), -exact.log_prob(binary), atol=1e-4)
        x = torch.rand(3, 2, 1, 4, 4)
        assert (grey.cross_entropy(x).double() >= grey_target_entropy(x) - 1e-4).all()
    assert not hasattr(grey, "log_prob")


def test_vpn_bad_inputs_are_one_clear_error():
    m = _vpn((2, 1, 4, 4), 2, conditional=True, context=2)
    ok = torch.zeros(2, 2, 1, 4, 4)
    with pytest.raises(UsageError, match="built for 2 frames of 1x4x4"):
        m.log_prob(torch.zeros(2, 2, 1, 5, 5), {"context": ok})
    with pytest.raises(UsageError, match=r"got shape \(2, 1, 4, 4\) \(4 axes\)"):
        m.log_prob(torch.zeros(2, 1, 4, 4), {"context": ok})
    with pytest.raises(ConditionError, match="at most 2"):
        m.sample(1, {"context": torch.zeros(1, 3, 1, 4, 4)})
    with pytest.raises(ConditionError, match=r"\(1, 4, 4\)"):
        m.sample(1, {"context": torch.zeros(1, 2, 1, 8, 8)})
    with pytest.raises(ConditionError, match="needs condition 'context'"):
        m.sample(1)


def test_vpn_trains_one_step_and_logs_per_frame_nll():
    m = _vpn((2, 1, 4, 4), 2, conditional=True, context=1)
    x = torch.rand(4, 2, 1, 4, 4).round()
    out = m.training_step(Batch(x=x, context=torch.rand(4, 1, 1, 4, 4).round()), 0, "model")
    out["loss"].backward()
    assert torch.isclose(out["nats_per_frame"] * 2, out["loss"].detach())
    assert all(p.grad is not None for p in m.parameters())


# ----- VGAN -----------------------------------------------------------------------------------------
def _vgan(conditional=False, frames=5, size=16, channels=1) -> VGAN:
    torch.manual_seed(0)
    conds = (FramesSpec(shape=(1, channels, size, size)),) if conditional else ()
    cfg = VGANConfig(latent_dim=8, width=4, conditional=conditional, noise_dim=3 if conditional else 0)
    return VGAN(cfg, DataInfo((frames, channels, size, size), 256, conditions=conds))


@pytest.mark.parametrize("conditional", [False, True])
def test_vgan_mask_in_unit_interval_and_video_is_the_two_stream_composition(conditional):
    m = _vgan(conditional, frames=5, channels=3).eval()
    n = 4
    first = torch.rand(n, 3, 16, 16) * 2 - 1 if conditional else None
    with torch.no_grad():
        s = m.streams(m.sample_latent(n, torch.Generator().manual_seed(0)), first)
    assert s["video"].shape == (n, 5, 3, 16, 16) and s["foreground"].shape == (n, 5, 3, 16, 16)
    assert s["mask"].shape == (n, 5, 1, 16, 16) and s["background"].shape == (n, 3, 16, 16)
    assert float(s["mask"].min()) >= 0.0 and float(s["mask"].max()) <= 1.0
    b = s["background"].unsqueeze(1)
    assert torch.allclose(s["video"], s["mask"] * s["foreground"] + (1 - s["mask"]) * b)
    cond = {"context": (first.unsqueeze(1) + 1) / 2} if conditional else None
    x = m.sample(n, cond, torch.Generator().manual_seed(0))
    assert torch.allclose(x, ((s["video"] + 1) / 2).clamp(0, 1), atol=1e-6)


def test_vgan_training_steps_update_only_their_player_and_the_mask_penalty_counts():
    m = _vgan(True, frames=4, size=8)
    batch = Batch(x=torch.rand(4, 4, 1, 8, 8), context=torch.rand(4, 1, 1, 8, 8))
    out = m.training_step(batch, 0, "discriminator")
    out["loss"].backward()
    assert all(p.grad is None for p in m.generator.parameters())
    assert any(p.grad is not None for p in m.discriminator.parameters())
    m.zero_grad(set_to_none=True)
    out = m.training_step(batch, 0, "generator")
    out["loss"].backward()
    assert all(p.grad is None for p in m.discriminator.parameters())
    assert all(p.grad is not None for p in m.encoder.parameters())
    torch.manual_seed(1)
    with_penalty = m.training_step(batch, 0, "generator")
    assert torch.isclose(with_penalty["loss"], with_penalty["g_loss"] + 0.1 * with_penalty["mask_mean"])


def test_vgan_bad_inputs():
    with pytest.raises(ValueError, match="4 \\* 2\\*\\*L"):
        VGAN(VGANConfig(), DataInfo((4, 1, 20, 20), 256))
    with pytest.raises(ValueError, match="videos"):
        VGAN(VGANConfig(), DataInfo((1, 16, 16), 256))
    m = _vgan(False, frames=4, size=8)
    with pytest.raises(UsageError, match="built for videos"):
        m.training_step(Batch(x=torch.rand(2, 4, 1, 16, 16)), 0, "generator")


# ----- named configs --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", [
    "vpn-moving-mnist", "vpn-moving-mnist-small", "vpn-moving-mnist-8bit-small", "vgan-moving-mnist",
    "vgan-moving-mnist-cifar", "vgan-future-moving-mnist", "vgan-moving-mnist-small",
    "vgan-future-moving-mnist-small", "vgan-moving-mnist-cifar-small",
])
def test_video_configs_build_their_models_on_their_data(name):
    """Every video config's model builds on the DataInfo its dataset options give (digits and backgrounds
    faked, so no files are needed) and, for the small ones, draws correctly shaped samples."""
    from genzoo.config import resolve
    from genzoo.data.moving_mnist import MovingMNIST, _options
    from genzoo.train.loop import build_model

    cfg = resolve(config=name)
    options = {k: v for k, v in cfg.data.items() if k != "name"}
    digits = torch.randint(0, 256, (5, 28, 28), dtype=torch.uint8)
    backgrounds = torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8) if "cifar" in cfg.data["name"] else None
    data = MovingMNIST(cfg.data["name"], "test", digits, _options(options), backgrounds)
    model = build_model(cfg, data.info)
    assert model.data_info.shape == data.info.shape
    if name.endswith("small"):
        model.eval()
        b = data.batch(torch.arange(2))
        cond = {"context": b["context"]} if model.condition_keys() else None
        if model.name.startswith("vpn"):  # sampling is pixel by pixel: check the likelihood path instead
            with torch.no_grad():
                score = model.cross_entropy(b["x"], cond) if model.name == "vpn-grey" else -model.log_prob_frames(
                    b["x"], cond)
            assert score.shape == (2, data.info.shape[0]) and torch.isfinite(score).all()
        else:
            x = model.sample(2, cond, torch.Generator().manual_seed(0))
            assert x.shape == (2, *data.info.shape)
