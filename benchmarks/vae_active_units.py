"""Active units of a VAE's stochastic layers after short fresh runs (Burda et al. 2016, Sec. 5.2), and
where the bound's nats go.

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/vae_active_units.py --data-dir ../shared/data \
        --config vae2-binarized-mnist --epochs 1 3 8 [--set model.kl_warmup_steps=9000] [--run RUN_DIR ...] \
        [--nll-k 100]

Each ``--epochs`` value is a fresh run of the config (seed 0) trained that long; ``--run`` scores finished
runs instead. A unit counts as active when the variance over test images of its posterior mean exceeds
0.01 (``VAE.active_units``, 2,000 evenly spaced test images, 10 draws of the layers below for the upper
layers; the binarized test split is sorted by label, so its first images would be only 0s and 1s).

``--nll-k K`` adds, on 1,000 evenly spaced test images: the bound L_K (nats), the one-sample ELBO
split into its terms: ``-log p(x|h1)`` and, for each stochastic layer, ``log q(h_l|.) - log p(h_l|.)``
(whose mean is that layer's KL), and for a tanh MLP decoder how its first layer sees h1 (the share of
saturated units; the input from active and from inactive units of h1). Prints one line per run and appends it to
``benchmarks/results/vae_active_units.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import torch
import yaml

import genzoo
from benchmarks.common import command_line, hardware
from genzoo.data import load_dataset, spaced_index
from genzoo.models.latent.vae import VAE

RESULTS = Path(__file__).parent / "results" / "vae_active_units.jsonl"
QUIET = {"train.progress": False, "train.tensorboard": False, "train.sample_every": 0}


def spaced(images: torch.Tensor, n: int) -> torch.Tensor:
    """``n`` evenly spaced images (every class of a label-sorted split)."""
    return images[spaced_index(len(images), min(n, len(images)))]


@torch.no_grad()
def elbo_terms(model: VAE, x: torch.Tensor) -> dict[str, float]:
    """Mean -log p(x|h1) and each layer's log q - log p over ``x``, from one draw h ~ q(h|x) (seed 0)."""
    torch.manual_seed(0)
    log_lik, log_q, log_p = model.layer_log_densities(x)
    out = {"reconstruction": -log_lik.mean().item()}
    out.update({f"kl_h{i + 1}": (q - p).mean().item() for i, (q, p) in enumerate(zip(log_q, log_p))})
    return out


@torch.no_grad()
def decoder_first_layer(model: VAE, x: torch.Tensor) -> dict[str, float]:
    """How the MLP decoder's first tanh layer sees one draw h1 ~ q(h1|x) (seed 0): the share of its units
    saturated (|tanh| > 0.99), and the mean |pre-activation| that comes from the inactive units of h1 (noise
    that carries nothing about x) against that from the active ones."""
    torch.manual_seed(0)
    mu, logvar = model.encode(x)
    h1 = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
    first = model.decoder.net[0]
    pre = first(h1)
    active = mu.var(0, correction=0) > 1e-2
    return {"saturated": (pre.tanh().abs() > 0.99).float().mean().item(),
            "from_active": (h1[:, active] @ first.weight[:, active].T).abs().mean().item(),
            "from_inactive": (h1[:, ~active] @ first.weight[:, ~active].T).abs().mean().item()}


def score(run_dir: Path, images: torch.Tensor, nll_k: int) -> dict[str, Any]:
    model = genzoo.load(run_dir)
    model.eval()
    row: dict[str, Any] = {
        "active_units": model.active_units(spaced(images, 2000), samples=10, generator=torch.Generator().manual_seed(0))
    }
    if nll_k:
        x = spaced(images, 1000)
        torch.manual_seed(0)
        with torch.no_grad():
            row[f"nll_k{nll_k}"] = -model.log_prob_bound(x, nll_k).mean().item()
        row["elbo_terms"] = elbo_terms(model, x)
        if model.config.architecture == "mlp" and model.config.activation == "tanh":
            row["decoder_first_layer"] = decoder_first_layer(model, x)
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="vae2-binarized-mnist")
    p.add_argument("--data-dir", default="../shared/data")
    p.add_argument("--epochs", type=int, nargs="*", default=[])
    p.add_argument("--run", nargs="*", default=[], help="finished run directories to score instead")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override (YAML value)")
    p.add_argument("--nll-k", type=int, default=0, help="also report L_k and the ELBO's terms (0: off)")
    a = p.parse_args()
    overrides: dict[str, Any] = {}
    for item in a.set:
        key, _, value = item.partition("=")
        overrides[key] = yaml.safe_load(value)
    images = None
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        jobs = [(Path(r), None) for r in a.run] + [(Path(tmp) / f"{e}ep", e) for e in a.epochs]
        for run_dir, epochs in jobs:
            if epochs is not None:
                genzoo.train(config=a.config, data_dir=a.data_dir, run_dir=run_dir, epochs=epochs,
                             overrides={**QUIET, **overrides}, seed=0)
            if images is None:
                cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
                images = load_dataset(cfg["data"]["name"], "test", a.data_dir).tensor()
            row = {"run": str(run_dir) if epochs is None else None, "config": a.config if epochs else None,
                   "epochs": epochs, "overrides": overrides if epochs else {},
                   **score(run_dir, images, a.nll_k), "test_images": 2000, "test_images_spaced": True}
            print(json.dumps(row), flush=True)
            rows.append(row)
    with RESULTS.open("a") as f:
        for row in rows:
            f.write(json.dumps({**row, "hardware": hardware(), "command": command_line()}) + "\n")


if __name__ == "__main__":
    main()
