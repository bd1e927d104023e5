"""genzoo's reference classifiers: one small convnet per dataset, for sample-quality metrics.

Why
---
The Inception network behind FID and the Inception Score (Salimans et al. 2016; Heusel et al. 2017)
was trained on ImageNet and sees 8x8 digits or 28x28 MNIST through a 299x299 blow-up, far from its
training data. Sample-quality metrics on small datasets are therefore usually computed with a
classifier trained on the dataset itself (e.g. the "MNIST score" / FID on LeNet features used by
Li et al. 2017 "MMD GAN" and Binkowski et al. 2018 "Demystifying MMD GANs", Sec. 5). genzoo ships no
weights; ``genzoo classifier DATASET`` (:func:`train_reference_classifier`) trains one in minutes on
a CPU and caches it.

Network
-------
:class:`ReferenceClassifier` is one class for every input shape ``(C, H, W)``: two blocks of
[3x3 conv, ReLU, 3x3 conv, ReLU, 2x2 max-pool] (widths ``w`` and ``2w``), a fully connected layer of
``feature_dim`` units (ReLU; the **penultimate features**, 128-d by default) and a linear layer to
the class logits. Inputs are images in ``[0, 1]``; the network maps them to ``[-1, 1]`` itself.
The features are divided by a constant fixed after training (``feature_scale``: their root mean
square over the training set), so they are of order one like the Inception pool_3 features: FID
scales with the square of that constant, and KID's cubic kernel ``(x.y/d + 1)^3`` (Binkowski et al.
2018, Eq. 4) would otherwise be dominated by the raw activation size.

For ``mnist`` the classifier is trained on grayscale images, each replaced with probability 1/2 by
a Bernoulli binarization (Salakhutdinov & Murray 2008), so one classifier also serves the binary
variants ``binarized-mnist`` and ``dynamic-mnist`` (see :data:`CLASSIFIER_ALIASES`).

Files
-----
``<cache>/classifiers/<dataset>-v<VERSION>.safetensors`` (weights; architecture and training
facts in the safetensors metadata, never pickle) and ``<dataset>-v<VERSION>.json`` beside it (test
accuracy, epochs, seed, time). ``<cache>`` is ``$GENZOO_CACHE`` or ``~/.cache/genzoo``. Both files are
written to a temporary file and renamed into place, so a crash never leaves half a file.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import Tensor, nn

from genzoo.fileio import atomic_write_bytes

#: bump when the architecture or the training recipe changes: old files are then not picked up
CLASSIFIER_VERSION = 2
FORMAT = f"genzoo-reference-classifier-{CLASSIFIER_VERSION}"
CACHE_ENV = "GENZOO_CACHE"

#: datasets whose reference classifier is another dataset's (same images, different binarization)
CLASSIFIER_ALIASES = {
    "binarized-mnist": "mnist", "dynamic-mnist": "mnist",
    # paired translation tasks (genzoo/data/paired.py): their targets are the base dataset's images
    "edges2digits": "mnist", "labels2digits": "mnist", "edges2fashion": "fashion-mnist", "grey2cifar": "cifar10",
}

#: per-dataset training recipe: epochs, width, learning rate, augmentation
RECIPES: dict[str, dict[str, Any]] = {
    "digits": {"epochs": 40, "width": 32, "lr": 2e-3, "batch_size": 64, "augment": "shift"},
    "mnist": {"epochs": 3, "width": 16, "lr": 1e-3, "batch_size": 128, "augment": "binarize"},
    "fashion-mnist": {"epochs": 3, "width": 16, "lr": 1e-3, "batch_size": 128, "augment": "none"},
    "cifar10": {"epochs": 15, "width": 32, "lr": 1e-3, "batch_size": 64, "augment": "shift-flip"},
}
_DEFAULT_RECIPE: dict[str, Any] = {"epochs": 10, "width": 32, "lr": 1e-3, "batch_size": 64, "augment": "none"}

#: measured training time in seconds with the recipe's epochs, 1 torch thread on a shared 2-core CPU
#: (benchmarks/results/reference_classifiers.md): what :func:`training_estimate` scales
MEASURED_SECONDS = {"digits": 40.0, "mnist": 338.0, "cifar10": 698.0}


def training_estimate(dataset: str, epochs: int | None = None) -> str:
    """How long training ``dataset``'s reference classifier takes on a CPU, in words (scaled from
    :data:`MEASURED_SECONDS` by the number of epochs), e.g. ``"about 6 minutes on a 2-core CPU"``."""
    name = classifier_name(dataset)
    if name not in MEASURED_SECONDS:
        return "time not measured for this dataset"
    recipe_epochs = {**_DEFAULT_RECIPE, **RECIPES.get(name, {})}["epochs"]
    seconds = MEASURED_SECONDS[name] * (epochs or recipe_epochs) / recipe_epochs
    count, unit = (max(1, round(seconds)), "second") if seconds < 90 else (round(seconds / 60), "minute")
    amount = f"{count} {unit}" + ("" if count == 1 else "s")
    return f"about {amount} on a 2-core CPU (less on a GPU)"


class ClassifierError(ValueError):
    """A reference classifier file that is missing, corrupt or of another version. Names the file."""


class ClassifierNotFoundError(ClassifierError, FileNotFoundError):
    """No reference classifier has been trained for this dataset yet."""


def cache_root() -> Path:
    """genzoo's cache folder: ``$GENZOO_CACHE`` or ``~/.cache/genzoo``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "genzoo"


def classifier_name(dataset: str) -> str:
    """The dataset whose classifier serves ``dataset`` (``binarized-mnist`` -> ``mnist``)."""
    return CLASSIFIER_ALIASES.get(dataset, dataset)


def classifier_path(dataset: str, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the weights of ``dataset``'s reference classifier live (``cache_dir`` overrides the cache)."""
    root = Path(cache_dir).expanduser() if cache_dir is not None else cache_root() / "classifiers"
    return root / f"{classifier_name(dataset)}-v{CLASSIFIER_VERSION}.safetensors"


class ReferenceClassifier(nn.Module):
    """Small convnet classifier for ``(C, H, W)`` images in ``[0, 1]`` (see the module docstring).

    ``features(x)`` returns the ``feature_dim`` penultimate activations, ``forward(x)`` the logits,
    ``probabilities(x)`` the softmax.
    """

    def __init__(
        self,
        in_shape: tuple[int, int, int],
        num_classes: int = 10,
        width: int = 32,
        feature_dim: int = 128,
        dropout: float = 0.3,
    ) -> None:
        super().__init__()
        c, h, w = (int(s) for s in in_shape)
        if h < 4 or w < 4:
            raise ValueError(f"images must be at least 4x4, got {h}x{w}")
        self.in_shape = (c, h, w)
        self.num_classes = num_classes
        self.width = width
        self.feature_dim = feature_dim
        self.dropout = dropout
        self.body = nn.Sequential(
            nn.Conv2d(c, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(2 * width, 2 * width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        flat = 2 * width * (h // 4) * (w // 4)
        self.fc = nn.Linear(flat, feature_dim)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(feature_dim, num_classes)
        self.register_buffer("feature_scale", torch.ones(()))

    def arch(self) -> dict[str, Any]:
        return {
            "in_shape": list(self.in_shape),
            "num_classes": self.num_classes,
            "width": self.width,
            "feature_dim": self.feature_dim,
            "dropout": self.dropout,
        }

    def _check(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or tuple(x.shape[1:]) != self.in_shape:
            raise ValueError(
                f"expected images of shape (N, {', '.join(map(str, self.in_shape))}), got {tuple(x.shape)}"
            )
        return x.to(self.fc.weight.dtype) * 2 - 1

    def _hidden(self, x: Tensor) -> Tensor:
        return F.relu(self.fc(self.body(self._check(x)).flatten(1)))

    def features(self, x: Tensor) -> Tensor:
        """Penultimate-layer activations divided by ``feature_scale``, ``(N, feature_dim)``."""
        return self._hidden(x) / self.feature_scale

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.drop(self._hidden(x)))

    def probabilities(self, x: Tensor) -> Tensor:
        """Class probabilities ``p(y|x)``, ``(N, num_classes)``."""
        return F.softmax(self.forward(x), dim=1)


# ----- saving / loading ----------------------------------------------------------------------------
def _weights_bytes(model: ReferenceClassifier, facts: dict[str, Any]) -> bytes:
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    meta = {"format": FORMAT, "arch": json.dumps(model.arch()), "facts": json.dumps(facts)}
    return st_save(tensors, metadata=meta)


def read_classifier_file(path: str | os.PathLike[str]) -> tuple[ReferenceClassifier, dict[str, Any]]:
    """Rebuild a classifier from its safetensors file; :class:`ClassifierError` names a bad file."""
    path = Path(path)
    hint = "delete it and re-create it with `genzoo classifier DATASET`"
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ClassifierNotFoundError(f"{path}: reference classifier file not found") from None
    try:
        tensors = st_load(raw)
        header_len = int.from_bytes(raw[:8], "little")
        meta = json.loads(raw[8 : 8 + header_len]).get("__metadata__") or {}
    except (SafetensorError, ValueError, OSError, UnicodeDecodeError) as e:
        raise ClassifierError(f"{path}: corrupt or truncated reference classifier ({e}); {hint}") from None
    if meta.get("format") != FORMAT:
        raise ClassifierError(
            f"{path}: not a genzoo reference classifier of version {CLASSIFIER_VERSION} "
            f"(format {meta.get('format')!r}); {hint}"
        )
    try:
        arch = json.loads(meta["arch"])
        facts = json.loads(meta.get("facts", "{}"))
        model = ReferenceClassifier(
            tuple(arch["in_shape"]), arch["num_classes"], arch["width"], arch["feature_dim"], arch["dropout"]
        )
        model.load_state_dict(tensors, strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise ClassifierError(f"{path}: weights do not fit the recorded architecture ({e}); {hint}") from None
    model.eval()
    model.requires_grad_(False)
    facts["sha256"] = hashlib.sha256(raw).hexdigest()
    return model, facts


def load_reference_classifier(
    dataset: str, cache_dir: str | os.PathLike[str] | None = None, device: str | torch.device = "cpu"
) -> ReferenceClassifier:
    """The trained reference classifier of ``dataset`` (in eval mode, frozen).

    Raises :class:`ClassifierNotFoundError` with the command that creates it when none is cached,
    and :class:`ClassifierError` when the file is corrupt. ``model.facts`` holds the training record
    (test accuracy, epochs, seed, ``sha256`` of the file).
    """
    path = classifier_path(dataset, cache_dir)
    if not path.is_file():
        name = classifier_name(dataset)
        extra = f" --cache-dir {cache_dir}" if cache_dir is not None else ""
        raise ClassifierNotFoundError(
            f"the features for {dataset!r} come from genzoo's reference classifier, which is not trained yet "
            f"(looked for {path}); train it once with `genzoo classifier {name} --data-dir DATA_DIR{extra}`, "
            f"{training_estimate(name)} (or genzoo.metrics.classifier.train_reference_classifier({name!r}, "
            "data_dir)); metrics of features alone (FID, KID, precision-recall) can also use "
            "--option extractor=inception|pixels"
        )
    model, facts = read_classifier_file(path)
    model.facts = facts  # type: ignore[assignment]
    return model.to(device)


# ----- training ------------------------------------------------------------------------------------
def _augment(x: Tensor, kind: str, g: torch.Generator) -> Tensor:
    n = x.shape[0]
    if "binarize" in kind:
        flip = torch.rand(n, 1, 1, 1, generator=g) < 0.5
        x = torch.where(flip, torch.bernoulli(x, generator=g), x)
    if "shift" in kind:  # random translation by up to 1 pixel (8x8) or 2 pixels (larger), zero padded
        pad = 1 if x.shape[-1] <= 8 else 2
        xp = F.pad(x, (pad, pad, pad, pad))
        dy, dx = torch.randint(0, 2 * pad + 1, (2,), generator=g).tolist()
        x = xp[..., dy : dy + x.shape[-2], dx : dx + x.shape[-1]]
    if "flip" in kind:
        mirror = torch.rand(n, 1, 1, 1, generator=g) < 0.5
        x = torch.where(mirror, x.flip(-1), x)
    return x


@torch.no_grad()
def accuracy(model: ReferenceClassifier, x: Tensor, y: Tensor, batch_size: int = 500) -> float:
    """Fraction of ``x`` classified as ``y``."""
    was = model.training
    model.eval()
    correct = 0
    for i in range(0, len(x), batch_size):
        correct += int((model(x[i : i + batch_size]).argmax(1) == y[i : i + batch_size]).sum())
    model.train(was)
    return correct / max(len(x), 1)


def train_reference_classifier(
    dataset: str,
    data_dir: str | os.PathLike[str] | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    epochs: int | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    verbose: bool = False,
    progress: bool | None = None,
) -> Path:
    """Train ``dataset``'s reference classifier on its ``train`` split and cache it; returns the path.

    ``verbose`` prints what will be trained and how long it should take before starting, and the result;
    ``progress`` (default: ``verbose``) shows a progress bar over the training steps.

    The ``test`` split accuracy goes into the JSON record beside the weights (and the safetensors
    metadata). ``out_dir`` overrides the cache folder (default ``<cache>/classifiers``); ``epochs``
    overrides the recipe in :data:`RECIPES`. Deterministic for a seed on one machine.
    """
    from genzoo.data import load_dataset
    from genzoo.defaults import resolve_device

    device = resolve_device(device)  # "auto" (the CLI's default) -> cuda or cpu
    name = classifier_name(dataset)
    recipe = {**_DEFAULT_RECIPE, **RECIPES.get(name, {})}
    if epochs is not None:
        recipe["epochs"] = int(epochs)
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    train = load_dataset(name, "train", data_dir=data_dir)
    test = load_dataset(name, "test", data_dir=data_dir)
    if train.labels is None:
        raise ValueError(f"dataset {name!r} has no labels; a reference classifier needs them")
    xtr, ytr = train.tensor(seed), train.labels
    xte, yte = test.tensor(seed), test.labels
    num_classes = int(train.info.num_classes or int(ytr.max()) + 1)
    model = ReferenceClassifier(tuple(train.info.shape), num_classes, width=recipe["width"]).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=recipe["lr"])
    steps_per_epoch = (len(xtr) + recipe["batch_size"] - 1) // recipe["batch_size"]
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=recipe["lr"], total_steps=max(recipe["epochs"] * steps_per_epoch, 1)
    )
    if verbose:
        print(f"[classifier {name}] training on {len(xtr):,} images for {recipe['epochs']} epochs, "
              f"{training_estimate(name, recipe['epochs'])}", flush=True)
    from tqdm.auto import tqdm

    bar = tqdm(total=recipe["epochs"] * steps_per_epoch, desc=f"classifier {name}", unit="step",
               disable=not (verbose if progress is None else progress), dynamic_ncols=True)
    start = time.time()
    model.train()
    for epoch in range(recipe["epochs"]):
        order = torch.randperm(len(xtr), generator=g)
        total = 0.0
        for i in range(0, len(xtr), recipe["batch_size"]):
            idx = order[i : i + recipe["batch_size"]]
            xb = _augment(xtr[idx], recipe["augment"], g).to(device)
            loss = F.cross_entropy(model(xb), ytr[idx].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
            bar.update(1)
        bar.set_postfix(epoch=f"{epoch + 1}/{recipe['epochs']}", loss=f"{total / len(xtr):.4f}")
    bar.close()
    seconds = time.time() - start
    model.eval()
    model.cpu()
    with torch.no_grad():  # fix the feature scale: unit root mean square over the training set
        hidden = torch.cat([model._hidden(xtr[i : i + 500]) for i in range(0, len(xtr), 500)])
        model.feature_scale.fill_(float(hidden.pow(2).mean().sqrt().clamp_min(1e-6)))
    facts = {
        "dataset": name,
        "version": CLASSIFIER_VERSION,
        "test_accuracy": accuracy(model, xte, yte),
        "train_accuracy": accuracy(model, xtr, ytr),
        "train_size": len(xtr),
        "test_size": len(xte),
        "epochs": recipe["epochs"],
        "recipe": recipe,
        "seed": seed,
        "train_seconds": round(seconds, 1),
        "feature_scale": float(model.feature_scale),
        "data_options": dict(train.options),
        "torch": torch.__version__,
    }
    path = classifier_path(name, out_dir)
    data = _weights_bytes(model, facts)
    atomic_write_bytes(path, data)
    record = {**facts, "weights": path.name, "sha256": hashlib.sha256(data).hexdigest()}
    atomic_write_bytes(path.with_suffix(".json"), (json.dumps(record, indent=2) + "\n").encode())
    if verbose:
        print(f"[classifier {name}] test accuracy {facts['test_accuracy']:.4f}; saved {path}")
    return path
