"""VAE: analytic KL, the bound ordering ELBO <= L_k <= log p(x), a normalised decoder, pictures."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from genzoo.config import resolve
from genzoo.core import DataInfo
from genzoo.data import load_dataset
from genzoo.models.latent.vae import VAE, VAEConfig, discretized_gaussian_log_prob, gaussian_kl_to_standard
from genzoo.train.loop import Trainer


def test_analytic_kl_matches_monte_carlo() -> None:
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(5, 3, generator=g)
    logvar = torch.randn(5, 3, generator=g) * 0.5
    z = mu + torch.randn(200_000, 5, 3, generator=g) * (0.5 * logvar).exp()
    log_q = torch.distributions.Normal(mu, (0.5 * logvar).exp()).log_prob(z).sum(-1)
    log_p = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
    mc = (log_q - log_p).mean(0)
    se = (log_q - log_p).std(0) / math.sqrt(len(z))
    analytic = gaussian_kl_to_standard(mu, logvar)
    assert torch.all((mc - analytic).abs() < 4 * se + 1e-4), (mc, analytic)


@pytest.mark.parametrize("levels", [3, 17, 256])
def test_discretized_gaussian_normalises_over_levels(levels: int) -> None:
    values = torch.arange(levels, dtype=torch.float64) / (levels - 1)
    for mean, log_scale in [(0.5, -2.0), (0.0, -5.0), (1.0, 0.5), (0.03, -7.0), (2.0, -6.0)]:
        lp = discretized_gaussian_log_prob(
            values, torch.full_like(values, mean), torch.full_like(values, log_scale), levels
        )
        assert torch.isfinite(lp).all()
        assert abs(lp.exp().sum().item() - 1.0) < 1e-6, (mean, log_scale)


def _tiny_binary_vae(seed: int = 0) -> VAE:
    torch.manual_seed(seed)
    model = VAE(VAEConfig(latent_dim=2, hidden=[8]), DataInfo((1, 2, 2), 2, 0)).double()
    with torch.no_grad():  # sharpen the decoder so the posterior is far from the prior
        for p in model.decoder.parameters():
            p.mul_(3.0)
    return model


def _exact_log_px(model: VAE, x: torch.Tensor, grid: int = 400, span: float = 7.0) -> torch.Tensor:
    """log p(x) = log of the integral of p(x|z) N(z; 0, I) over a dense 2-D grid (midpoint rule)."""
    u = torch.linspace(-span, span, grid, dtype=torch.float64)
    h = u[1] - u[0]
    zz = torch.stack(torch.meshgrid(u, u, indexing="ij"), -1).reshape(-1, 2)
    log_prior = -0.5 * (zz.pow(2).sum(-1) + 2 * math.log(2 * math.pi))
    out = []
    for xi in x:
        ll = model.log_likelihood(xi.expand(len(zz), *xi.shape), zz)
        out.append(torch.logsumexp(ll + log_prior, 0) + 2 * torch.log(h))
    return torch.stack(out)


def test_bounds_ordered_and_tighten_towards_exact_likelihood() -> None:
    model = _tiny_binary_vae()
    codes = torch.arange(16)
    x = ((codes[:, None] >> torch.arange(4)) & 1).double().view(16, 1, 2, 2)  # all 16 binary 2x2 images
    with torch.no_grad():
        exact = _exact_log_px(model, x)
        assert abs(torch.logsumexp(exact, 0).item()) < 1e-6  # quadrature: p(x) sums to 1 over all images
        torch.manual_seed(1)
        # each bound is an expectation: average repeated estimates so their order shows per image
        elbo = torch.stack([model.log_prob_bound(x, 1) for _ in range(4000)]).mean(0)
        bounds = {k: torch.stack([model.log_prob_bound(x, k) for _ in range(reps)]).mean(0)
                  for k, reps in ((5, 1000), (50, 100), (5000, 2))}
    assert torch.all(elbo < bounds[5]) and torch.all(bounds[5] < bounds[50])
    # L_50 is already within a few hundredths of L_5000 here: per image within noise, on average below
    assert torch.all(bounds[50] < bounds[5000] + 0.03) and bounds[50].mean() < bounds[5000].mean()
    # L_k is a bound in expectation only: a single k=5000 estimate scatters by ~0.03 nats here
    assert torch.all(elbo < exact) and torch.all(bounds[5000] <= exact + 0.05)
    gap_elbo = (exact - elbo).mean()
    assert gap_elbo > 0.3  # the test is not vacuous: the ELBO is visibly loose here
    assert (exact - bounds[5000]).abs().mean() < 0.03  # ... and L_5000 all but closes the gap


def test_bernoulli_decoder_refuses_grey_levels() -> None:
    with pytest.raises(ValueError, match="Bernoulli decoder needs binary data.*17 levels"):
        VAE(VAEConfig(decoder="bernoulli"), DataInfo((1, 8, 8), 17, 10))


@pytest.mark.parametrize("architecture,shape", [("mlp", (1, 8, 8)), ("conv", (1, 28, 28)), ("conv", (3, 32, 32))])
def test_shapes_sampling_and_pictures(architecture: str, shape: tuple[int, int, int]) -> None:
    info = DataInfo(shape, 256, 0)
    model = VAE(VAEConfig(latent_dim=2, hidden=[16], architecture=architecture, conv_channels=[4, 8]), info)
    x = torch.rand(3, *shape).mul(255).round().div(255)
    out = model.training_step({"x": x}, 0, "model")
    out["loss"].backward()
    assert torch.isfinite(out["loss"])
    g = torch.Generator().manual_seed(0)
    draws = model.sample(4, generator=g, mean=False)
    assert draws.shape == (4, *shape) and draws.min() >= 0 and draws.max() <= 1
    assert torch.equal(draws * 255, (draws * 255).round())  # draws lie on the data's 256-level grid
    assert model.manifold(5).shape == (25, *shape)
    assert model.reconstruct(x).shape == x.shape
    assert model.log_prob_bound(x, 7).shape == (3,)


def test_two_stochastic_layers_bounds_and_sampling() -> None:
    torch.manual_seed(0)
    cfg = VAEConfig(latent_dim=6, hidden=[16], upper_layers=[3], upper_hidden=[8])
    model = VAE(cfg, DataInfo((1, 4, 4), 2, 0)).double()
    assert model.latent_dim == 3
    x = torch.bernoulli(torch.full((6, 1, 4, 4), 0.3, dtype=torch.float64))
    with torch.no_grad():
        torch.manual_seed(1)
        elbo = torch.stack([model.log_prob_bound(x, 1) for _ in range(3000)]).mean(0)
        l10 = torch.stack([model.log_prob_bound(x, 10) for _ in range(300)]).mean(0)
        l1000 = torch.stack([model.log_prob_bound(x, 1000) for _ in range(4)]).mean(0)
    assert torch.all(elbo < l10) and torch.all(l10 < l1000 + 0.02) and l10.mean() < l1000.mean()
    out = model.training_step({"x": x}, 0, "model")
    out["loss"].backward()
    assert all(p.grad is not None for p in model.upper_priors.parameters())  # p(h1|h2) is trained
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(model.sample(4, generator=g1, mean=False), model.sample(4, generator=g2, mean=False))
    assert model.decode(torch.zeros(2, 3, dtype=torch.float64)).shape == (2, 1, 4, 4)


@pytest.mark.parametrize("upper", [[], [3]])
def test_kl_warm_up_weighs_only_the_prior_terms_of_the_training_objective(upper: list[int]) -> None:
    """Sønderby et al. 2016's warm-up: loss = -(log p(x|h1) + beta (log p(h) - log q(h|x))), beta = (step+1)/n
    up to 1; bits/dim stay those of the ELBO itself, and n = 0 (the default) is the plain ELBO."""
    cfg = VAEConfig(latent_dim=6, hidden=[16], upper_layers=upper, upper_hidden=[8], kl_warmup_steps=4)
    torch.manual_seed(0)
    model = VAE(cfg, DataInfo((1, 4, 4), 2, 0)).double()
    assert [model.kl_weight(s) for s in (0, 1, 3, 10)] == [0.25, 0.5, 1.0, 1.0]
    x = torch.bernoulli(torch.full((5, 1, 4, 4), 0.3, dtype=torch.float64))
    dims_ln2 = 16 * math.log(2)
    for step, beta in ((0, 0.25), (1, 0.5), (7, 1.0)):
        torch.manual_seed(3)
        out = model.training_step({"x": x}, step, "model")
        torch.manual_seed(3)  # the same draws, by hand
        if upper:
            rec, ratio = model._log_weight_parts(x)
        else:
            _, rec, kl = model.elbo(x)
            ratio = -kl
        assert out["loss"].item() == pytest.approx(-(rec + beta * ratio).mean().item(), rel=1e-12)
        assert out["bits_per_dim"].item() == pytest.approx(-(rec + ratio).mean().item() / dims_ln2, rel=1e-12)
        assert ("kl_weight" in out) == (beta < 1.0)
    model.config.kl_warmup_steps = 0
    torch.manual_seed(3)
    plain = model.training_step({"x": x}, 0, "model")["loss"]
    torch.manual_seed(3)
    assert plain.item() == pytest.approx(-model.elbo(x)[0].mean().item(), rel=1e-12)


def test_active_units_count_the_units_whose_posterior_mean_moves_with_x() -> None:
    """Burda et al. 2016's activity statistic, checked on encoders whose posterior means are set by hand:
    h1 mean = (x0, 0.05 x0, 0, ...) -> 1 active unit of 6 (var(x0) = 0.25 > 0.01; 0.05^2 x 0.25 < 0.01);
    h2 mean = (h1_0, const): 1 of 3 once averaged over draws of h1 (tiny posterior noise)."""
    cfg = VAEConfig(latent_dim=6, hidden=[4], upper_layers=[3], upper_hidden=[4], activation="relu")
    model = VAE(cfg, DataInfo((1, 2, 2), 2, 0)).double()
    x = torch.tensor([[0.0, 1, 0, 1], [1, 0, 1, 0], [0, 0, 1, 1], [1, 1, 0, 0]], dtype=torch.float64).repeat(50, 1)

    class Fixed(torch.nn.Module):
        def __init__(self, mean: Callable[[torch.Tensor], torch.Tensor], dim: int) -> None:
            super().__init__()
            self.mean, self.dim = mean, dim

        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return torch.cat([self.mean(z), torch.full((len(z), self.dim), -20.0, dtype=z.dtype)], 1)

    pad = lambda t, d: torch.nn.functional.pad(t, (0, d - t.shape[1]))  # noqa: E731
    model.encode = lambda x: Fixed(lambda v: pad(torch.stack([v[:, 0], 0.05 * v[:, 0]], 1), 6), 6)(  # type: ignore[method-assign]
        x.flatten(1)).chunk(2, dim=-1)
    model.upper_encoders[0] = Fixed(lambda h: pad(torch.stack([h[:, 0], torch.ones(len(h))], 1), 3), 3)
    assert model.active_units(x.view(-1, 1, 2, 2), samples=4, generator=torch.Generator().manual_seed(0)) == [1, 1]
    one = VAE(VAEConfig(latent_dim=3, hidden=[4]), DataInfo((1, 2, 2), 2, 0)).double()
    one.encode = lambda x: (torch.zeros(len(x), 3, dtype=torch.float64),) * 2  # type: ignore[method-assign]
    assert one.active_units(x.view(-1, 1, 2, 2)) == [0]  # a posterior that ignores x: nothing is active


@pytest.mark.parametrize("architecture", ["mlp", "conv"])
def test_glorot_init_sets_every_layer_to_the_glorot_uniform_range(architecture: str) -> None:
    """``init=glorot`` (Burda et al. 2016, Sec. 5): weights within +-sqrt(6 / (fan_in + fan_out)) with that
    range's variance 2 / (fan_in + fan_out), zero biases; the default keeps PyTorch's narrower U(+-1/sqrt(fan_in))."""
    info = DataInfo((1, 8, 8), 2, 0)
    upper = [] if architecture == "conv" else [20]
    torch.manual_seed(0)
    model = VAE(VAEConfig(latent_dim=30, hidden=[300], upper_layers=upper, architecture=architecture,
                          conv_channels=[8, 16], init="glorot"), info)
    layers = [m for m in model.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d,
                                                           torch.nn.ConvTranspose2d))]
    assert len(layers) >= 4
    for layer in layers:
        fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(layer.weight)
        bound = math.sqrt(6 / (fan_in + fan_out))
        w = layer.weight.detach()
        assert w.abs().max() <= bound and layer.bias is not None and torch.all(layer.bias == 0)
        if w.numel() >= 2000:
            assert w.var().item() == pytest.approx(2 / (fan_in + fan_out), rel=0.1)
    torch.manual_seed(0)
    default = VAE(VAEConfig(latent_dim=30, hidden=[300], upper_layers=upper, architecture=architecture,
                            conv_channels=[8, 16]), info)
    first = next(m for m in default.modules() if isinstance(m, torch.nn.Linear | torch.nn.Conv2d))
    assert first.weight.abs().max() <= 1 / math.sqrt(torch.nn.init._calculate_fan_in_and_fan_out(first.weight)[0])
    assert not torch.all(first.bias == 0)


def test_layer_log_densities_split_the_log_weight_by_layer() -> None:
    """``layer_log_densities``: one (log q, log p) pair per stochastic layer whose sum with log p(x|h1) is the
    bound's integrand for the same draw; with one layer, the mean of log q - log p is the analytic KL."""
    x = torch.bernoulli(torch.full((5, 1, 4, 4), 0.3, dtype=torch.float64))
    torch.manual_seed(0)
    two = VAE(VAEConfig(latent_dim=6, hidden=[16], upper_layers=[4, 3], upper_hidden=[8]),
              DataInfo((1, 4, 4), 2, 0)).double()
    torch.manual_seed(1)
    log_lik, log_q, log_p = two.layer_log_densities(x)
    torch.manual_seed(1)
    assert len(log_q) == len(log_p) == 3
    expected = two.log_weight(x)
    assert torch.allclose(log_lik + sum(p - q for q, p in zip(log_q, log_p)), expected, atol=1e-10)
    one = VAE(VAEConfig(latent_dim=3, hidden=[8]), DataInfo((1, 4, 4), 2, 0)).double()
    with torch.no_grad():
        one.encoder.head.weight.mul_(10)  # posteriors far from the prior: KLs of a few nats
    with torch.no_grad():
        _, log_q, log_p = one.layer_log_densities(x.repeat(4000, 1, 1, 1))
        draws = (log_q[0] - log_p[0]).view(4000, 5)
        kl = gaussian_kl_to_standard(*one.encode(x))
    assert kl.min() > 0.5
    assert torch.all((draws.mean(0) - kl).abs() < 4 * draws.std(0) / math.sqrt(4000))


def test_out_bias_marginals_starts_the_decoder_at_the_training_data_marginals(tmp_path: Path) -> None:
    """``out_bias: marginals`` (Burda et al.'s code): the engine hands a fresh VAE the training split's mean
    image, and the decoder's output bias becomes logit(clip(mean, 0.001, 0.999)), so that with the weights
    into the output zeroed the decoder's mean is the data's marginals; the default leaves PyTorch's bias."""
    overrides = {"model.out_bias": "marginals", "model.decoder": "discretized-gaussian", "train.progress": False}
    trainer = Trainer(resolve(model="vae", data="digits", overrides=overrides), tmp_path / "run")
    mean = load_dataset("digits", "train").tensor().mean(0)
    assert mean.min() == 0.0  # the clip is exercised (the digits' corners are always blank)
    p = mean.flatten().clamp(0.001, 0.999)
    bias = trainer.model.decoder.net[-1].bias.detach()
    torch.testing.assert_close(bias[: p.numel()], torch.log(p / (1 - p)), rtol=1e-5, atol=1e-5)
    torch.nn.init.zeros_(trainer.model.decoder.net[-1].weight)
    decoded = trainer.model.decode(torch.zeros(3, trainer.model.latent_dim))
    torch.testing.assert_close(decoded, p.view(1, *mean.shape).expand(3, -1, -1, -1), rtol=1e-5, atol=1e-6)
    default = Trainer(resolve(model="vae", data="digits", overrides={"train.progress": False}), tmp_path / "d")
    assert not torch.allclose(default.model.decoder.net[-1].bias.detach()[: p.numel()], bias[: p.numel()])


def test_out_bias_marginals_needs_the_mlp_decoder() -> None:
    with pytest.raises(ValueError, match="out_bias: marginals.*architecture=mlp"):
        VAE(VAEConfig(architecture="conv", conv_channels=[4, 8], out_bias="marginals"), DataInfo((1, 8, 8), 2, 0))


@pytest.mark.parametrize("binarize", [None, "dynamic"])
def test_pixel_mean_is_the_mean_image_without_a_float_copy(binarize: str | None) -> None:
    """``ImageData.pixel_mean`` (chunked, float64 sums) equals the mean of the float images; under a dynamic
    binarization it is each pixel's probability of being 1, averaged."""
    data = load_dataset("digits", "train")
    data = dataclasses.replace(data, binarize=binarize, info=dataclasses.replace(data.info, levels=2)) \
        if binarize else data
    expected = (data.codes.double() / (data.raw_levels - 1)).mean(0).float()
    torch.testing.assert_close(data.pixel_mean(chunk=100), expected)
    assert data.pixel_mean(chunk=100).shape == data.info.shape
