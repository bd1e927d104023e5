"""The PatchGAN discriminator of pix2pix (Isola et al. 2017, Sec. 3.2.2 and Appendix 6.1.2): a fully
convolutional net whose every output judges one ``N x N`` patch of its input as real or fake; the
image's score is the average over patches (a Markov random field assumption: pixels further apart than a
patch are independent).

Layers for a receptive field ``N`` (:func:`patch_layers`): ``n`` 4x4 convolutions of stride 2, one 4x4
convolution of stride 1, then a 4x4 convolution of stride 1 to one channel (the logits; the sigmoid is
in the loss). Widths ``min(base * 2^i, max_channels)``: Conv-BatchNorm-LeakyReLU(0.2), no BatchNorm on
the first layer. Walking back from one output, each stride-1 4x4 layer adds 3 pixels and each stride-2
4x4 layer maps ``r -> 2 r + 2``, so (:func:`patch_receptive_field`)

    n = 1: 16x16 (C64-C128)        n = 3: 70x70 (C64-C128-C256-C512, the paper's default)
    n = 2: 34x34                   n = 5: 286x286 (C64-C128-C256-C512-C512-C512)

``N = 1`` is the paper's PixelGAN: the same C64-C128 with 1x1 convolutions. Any other ``N`` is an error
listing the valid sizes. Every convolution pads by 1 (as in the released code), so an image of side
``S`` gives roughly ``S / 2^n - 2`` outputs per side.
"""

from __future__ import annotations

from torch import Tensor, nn

MAX_STRIDED = 8


def patch_receptive_field(n_strided: int) -> int:
    """Receptive field (pixels per side) of one output of a PatchGAN with ``n_strided`` stride-2 layers."""
    r = 1 + 3 + 3  # the output conv and the stride-1 conv, both 4x4
    for _ in range(n_strided):
        r = 2 * r + 2
    return r


def valid_patch_sizes() -> list[int]:
    return [1] + [patch_receptive_field(n) for n in range(1, MAX_STRIDED + 1)]


def patch_layers(patch: int) -> int:
    """The number of stride-2 layers whose receptive field is ``patch`` (0 for the 1x1 PixelGAN)."""
    if patch == 1:
        return 0
    for n in range(1, MAX_STRIDED + 1):
        if patch_receptive_field(n) == patch:
            return n
    raise ValueError(
        f"PatchGAN patch size {patch} is not reachable with 4x4 convolutions; valid sizes: "
        f"{', '.join(map(str, valid_patch_sizes()))}"
    )


class PatchGAN(nn.Module):
    """``(N, in_channels, H, W)`` in ``[-1, 1]`` -> patch logits ``(N, 1, H', W')`` (module docstring).

    For pix2pix ``in_channels`` is the source's channels plus the image's: the conditional discriminator
    sees the (input, output) pair stacked along channels."""

    def __init__(self, in_channels: int, patch: int = 70, base: int = 64, max_channels: int = 512) -> None:
        super().__init__()
        self.patch = patch
        self.n_strided = patch_layers(patch)
        layers: list[nn.Module] = []
        if self.n_strided == 0:  # PixelGAN: C64-C128 with 1x1 convolutions
            widths = [min(base, max_channels), min(2 * base, max_channels)]
            layers += [nn.Conv2d(in_channels, widths[0], 1), nn.LeakyReLU(0.2)]
            layers += [nn.Conv2d(widths[0], widths[1], 1, bias=False), nn.BatchNorm2d(widths[1]), nn.LeakyReLU(0.2)]
            layers += [nn.Conv2d(widths[1], 1, 1)]
        else:
            cin = in_channels
            for i in range(self.n_strided + 1):
                cout = min(base * 2**i, max_channels)
                stride = 2 if i < self.n_strided else 1
                layers.append(nn.Conv2d(cin, cout, 4, stride, 1, bias=i == 0))
                if i > 0:
                    layers.append(nn.BatchNorm2d(cout))
                layers.append(nn.LeakyReLU(0.2))
                cin = cout
            layers.append(nn.Conv2d(cin, 1, 4, 1, 1))
        self.net = nn.Sequential(*layers)

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """Patch grid of an input of this size (each 4x4 conv with padding 1: ``s -> (s - 2) // stride + 1``)."""
        def one(s: int) -> int:
            if self.n_strided == 0:
                return s
            for _ in range(self.n_strided):
                s = (s - 2) // 2 + 1
            return s - 1 - 1

        return one(height), one(width)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)
