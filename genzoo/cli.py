"""``genzoo`` command line: thin wrappers over :mod:`genzoo.api`.

    genzoo train MODEL [--data NAME] [--config NAME|PATH] [--set key=value ...] [--epochs N] ...
    genzoo sample RUN_DIR [-n 64] [-o grid.png] [--manifold] [--reconstruct]
    genzoo eval RUN_DIR [--metric nll ...] [--importance-samples K]
    genzoo list
    genzoo download NAME [--data-dir DIR] [--url BASE]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from genzoo import defaults
from genzoo.core.errors import UsageError

CommandFn = Callable[[argparse.Namespace], int]
_COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], CommandFn, str]] = {}


def command(name: str, help_text: str) -> Callable[[Callable[[argparse.ArgumentParser], None]], Any]:
    """Register ``add_arguments`` (decorated) + ``run`` (its ``.run`` attribute) as a subcommand."""

    def deco(add_args: Callable[[argparse.ArgumentParser], None]) -> Any:
        def with_run(run: CommandFn) -> CommandFn:
            _COMMANDS[name] = (add_args, run, help_text)
            return run

        add_args.run = with_run  # type: ignore[attr-defined]
        return add_args

    return deco


def _parse_value(text: str) -> Any:
    from genzoo.config import parse_override

    return parse_override(f"x={text}")[1]


# ----- train -----------------------------------------------------------------------------------------
@command("train", "train a model (continues a run directory that has checkpoints)")
def _train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", nargs="?", help="model name (see `genzoo list`); omit with --resume or --config")
    p.add_argument("--data", help="dataset name (default: the config's, else digits)")
    p.add_argument("--data-dir", help="where dataset files are (default: $GENZOO_DATA_DIR or ./data)")
    p.add_argument("--config", help="a named config (`genzoo list`) or a YAML file")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field, e.g. --set model.latent_dim=2 --set train.lr=3e-4")
    p.add_argument("--epochs", type=int)
    p.add_argument("--steps", type=int, help="stop after this many optimisation steps")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--device", default=defaults.DEVICE, help="auto (CUDA if available), cpu, cuda, cuda:1, ...")
    p.add_argument("--run-dir", help="default: runs/<model>-<data>-<time>")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue this run from its last checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


@_train_args.run
def _train(a: argparse.Namespace) -> int:
    from genzoo.api import train

    overrides = list(a.overrides)
    if a.batch_size:
        overrides.append(f"train.batch_size={a.batch_size}")
    if a.no_progress:
        overrides.append("train.progress=false")
    if not (a.model or a.config or a.resume):
        raise SystemExit("genzoo train: name a model (see `genzoo list`), a --config, or --resume RUN_DIR")
    run = train(
        a.model, a.data, config=a.config, overrides=overrides, run_dir=a.resume or a.run_dir,
        data_dir=a.data_dir, device=a.device, epochs=a.epochs, steps=a.steps, seed=a.seed,
        resume=bool(a.resume),
    )
    print(f"trained {run.config.model['name']} for {run.step} steps; run directory: {run.run_dir}")
    for name in ("samples.png", "metrics.jsonl"):
        if (run.run_dir / name).exists():
            print(f"  {run.run_dir / name}")
    return 0


# ----- sample ----------------------------------------------------------------------------------------
@command("sample", "write a PNG grid (and optionally an .npz) of samples from a trained run")
def _sample_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir")
    p.add_argument("-n", type=int, default=defaults.SAMPLES, help="number of samples")
    p.add_argument("-o", "--out", default=None, help="PNG path (default: RUN_DIR/samples-seedS.png)")
    p.add_argument("--npz", help="also save the samples as float32 array 'images' in this .npz")
    p.add_argument("--seed", type=int, default=defaults.SEED)
    p.add_argument("--nrow", type=int)
    p.add_argument("--device", default=defaults.DEVICE, help="auto (CUDA if available), cpu, cuda, cuda:1, ...")
    p.add_argument("--class", dest="label", type=int, help="class label for class-conditional models")
    p.add_argument("--text", help="caption for text-conditional models")
    p.add_argument("--condition", action="append", default=[], metavar="KEY=VALUE",
                   help="any condition by key, e.g. --condition box=[[0.1,0.1,0.6,0.6]] (YAML values)")
    p.add_argument("--manifold", type=int, metavar="GRID", help="VAE with 2-D latent: the learned manifold")
    p.add_argument("--reconstruct", action="store_true", help="test images beside their reconstructions")
    p.add_argument("--data-dir")


@_sample_args.run
def _sample(a: argparse.Namespace) -> int:
    import numpy as np

    from genzoo import api
    from genzoo.images import save_sheet

    run = Path(a.run_dir)
    out = Path(a.out) if a.out else run / f"samples-seed{a.seed}.png"
    nrow = a.nrow
    if a.manifold:
        images, nrow = api.manifold(run, a.manifold, a.device), a.manifold
    elif a.reconstruct:
        images, nrow = api.reconstructions(run, a.n, a.seed, a.device, a.data_dir), nrow or 16
    else:
        condition = {k.replace("-", "_"): _parse_value(v) for k, v in (_key_value(c) for c in a.condition)}
        if a.label is not None:
            condition["label"] = a.label
        if a.text is not None:
            condition["text"] = a.text
        images = api.sample(run, a.n, seed=a.seed, condition=condition or None, device=a.device, data_dir=a.data_dir)
    save_sheet(images, out, nrow=nrow)
    print(f"wrote {out}")
    if a.npz:
        np.savez_compressed(a.npz, images=images.numpy().astype(np.float32))
        print(f"wrote {a.npz}")
    return 0


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise UsageError(f"{text!r} is not KEY=VALUE")
    return key.strip(), value


# ----- eval ------------------------------------------------------------------------------------------
@command("eval", "evaluate a run (or a folder/.npz of images) with registered metrics")
def _eval_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", nargs="?", help="a run directory (omit with --samples)")
    p.add_argument("--metric", action="append", dest="metrics", help="metric name, repeatable (default: nll)")
    p.add_argument("--importance-samples", type=int, help="k for the importance-weighted bound (default 5000)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="metric option for every metric (n_samples=5000) or one (fid.extractor=inception)")
    p.add_argument("--samples", help="evaluate these images instead: a folder of images or an .npz 'images'")
    p.add_argument("--data", help="reference dataset (default: the run's)")
    p.add_argument("--data-dir")
    p.add_argument("--real-baseline", action="store_true", help="score held-out real data instead of samples")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=defaults.DEVICE, help="auto (CUDA if available), cpu, cuda, cuda:1, ...")
    p.add_argument("--batch-size", type=int, default=256)


def _read_samples(path: str) -> Any:
    import numpy as np
    import torch

    p = Path(path)
    if p.is_dir():
        from genzoo.data.folder import list_images, read_images

        return torch.from_numpy(read_images(list_images(p))).float() / 255.0
    with np.load(p, allow_pickle=False) as npz:
        arr = npz["images"] if "images" in npz else npz[npz.files[0]]
    x = torch.from_numpy(np.asarray(arr, dtype=np.float32))
    return x / 255.0 if x.max() > 1.0 else x


@_eval_args.run
def _eval(a: argparse.Namespace) -> int:
    from genzoo.api import evaluate

    if not a.run_dir and not a.samples and not (a.real_baseline and a.data):
        raise SystemExit("genzoo eval: give a RUN_DIR, --samples PATH --data NAME, or --real-baseline --data NAME")
    options = {k.replace("-", "_"): _parse_value(v) for k, v in (o.split("=", 1) for o in a.option)}
    if a.importance_samples:
        options["importance_samples"] = a.importance_samples
    samples = _read_samples(a.samples) if a.samples else None
    results = evaluate(
        a.run_dir, a.metrics, options=options, data=a.data, data_dir=a.data_dir, samples=samples,
        real_baseline=a.real_baseline, device=a.device, seed=a.seed, batch_size=a.batch_size,
    )
    for name, scores in results.items():
        print(f"{name}: {json.dumps(scores, default=str)}")
    return 0


# ----- latent-space pictures -------------------------------------------------------------------------
def _latent_model(run_dir: str, device: str) -> Any:
    from genzoo.api import load
    from genzoo.latent import has_latent

    model = load(run_dir, device)
    if not has_latent(model):
        raise ValueError(f"model {model.name!r} has no latent code to walk (needs latent_dim and decode)")
    return model


@command("interpolate", "decode walks between random latent codes (Radford et al. 2016, Sec. 6.1)")
def _interpolate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir")
    p.add_argument("--pairs", type=int, default=8, help="rows: one walk between two random codes each")
    p.add_argument("--steps", type=int, default=8, help="images per walk, both ends included")
    p.add_argument("--mode", choices=("slerp", "linear"), default="slerp")
    p.add_argument("--label", type=int, help="class for conditional models")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--out", help="PNG path (default: RUN_DIR/interpolation-seedS.png)")
    p.add_argument("--device", default=defaults.DEVICE, help="auto (CUDA if available), cpu, cuda, cuda:1, ...")


@_interpolate_args.run
def _interpolate(a: argparse.Namespace) -> int:
    from genzoo.images import save_grid
    from genzoo.latent import interpolation_grid

    model = _latent_model(a.run_dir, a.device)
    images = interpolation_grid(model, a.pairs, a.steps, a.seed, a.mode, a.label)
    out = Path(a.out or Path(a.run_dir) / f"interpolation-seed{a.seed}.png")
    save_grid(images.cpu(), out, nrow=a.steps)
    print(f"wrote {out}")
    return 0


@command("arithmetic", "latent vector arithmetic on samples picked by index (Radford et al. 2016, Sec. 6.3)")
def _arithmetic_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir")
    p.add_argument("--expr", required=True, help='e.g. "a - b + c"')
    p.add_argument("--group", action="append", required=True, metavar="NAME=I,J,...",
                   help="indices into the sample grid of `genzoo sample RUN --seed S`, e.g. a=3,17,42")
    p.add_argument("--seed", type=int, default=0, help="the seed of the sample grid the indices refer to")
    p.add_argument("--variations", type=int, default=8, help="noisy variations of the result")
    p.add_argument("--noise", type=float, default=0.25)
    p.add_argument("--label", type=int, help="class for conditional models")
    p.add_argument("-o", "--out", help="PNG path (default: RUN_DIR/arithmetic-seedS.png)")
    p.add_argument("--device", default=defaults.DEVICE, help="auto (CUDA if available), cpu, cuda, cuda:1, ...")


@_arithmetic_args.run
def _arithmetic(a: argparse.Namespace) -> int:
    from genzoo.images import save_grid
    from genzoo.latent import arithmetic_from_samples

    groups = {}
    for spec in a.group:
        name, _, idx = spec.partition("=")
        if not idx:
            raise ValueError(f"--group {spec!r} is not NAME=I,J,...")
        groups[name.strip()] = [int(i) for i in idx.split(",")]
    model = _latent_model(a.run_dir, a.device)
    images = arithmetic_from_samples(model, groups, a.expr, a.seed, a.variations, a.noise, a.label)
    out = Path(a.out or Path(a.run_dir) / f"arithmetic-seed{a.seed}.png")
    save_grid(images.cpu(), out, nrow=len(images))
    print(f"wrote {out}: the groups' mean codes, then {a.expr!r}, then {a.variations} variations")
    return 0


# ----- report / reference classifier ------------------------------------------------------------------
@command("report", "write a self-contained HTML report of a run (samples, curves, metrics)")
def _report_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir")
    p.add_argument("-o", "--out", help="HTML path (default: RUN_DIR/report.html)")
    p.add_argument("--title")


@_report_args.run
def _report(a: argparse.Namespace) -> int:
    from genzoo.report.html import write_report

    print(f"wrote {write_report(a.run_dir, a.out, a.title)}")
    return 0


@command("classifier", "train and cache a dataset's reference classifier (features for FID, KID, IS, ...)")
def _classifier_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", help="digits, mnist or cifar10")
    p.add_argument("--data-dir")
    p.add_argument("--epochs", type=int, help="default: the dataset's recorded setting")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out-dir",
                   help="where to write it (default: $GENZOO_CACHE/classifiers or ~/.cache/genzoo/classifiers)")
    p.add_argument("--device", default=defaults.DEVICE, help="auto (CUDA if available), cpu, cuda, cuda:1, ...")


@_classifier_args.run
def _classifier(a: argparse.Namespace) -> int:
    import json as _json

    from genzoo.metrics.classifier import train_reference_classifier

    path = train_reference_classifier(a.dataset, a.data_dir, a.out_dir, a.epochs, a.seed, a.device, verbose=True)
    record = path.with_suffix(".json")
    facts = _json.loads(record.read_text()) if record.is_file() else {}
    print(f"wrote {path}" + (f" (test accuracy {facts['test_accuracy']:.4f})" if "test_accuracy" in facts else ""))
    return 0


# ----- list / download -------------------------------------------------------------------------------
@command("list", "list the models, datasets, metrics and named configs")
def _list_args(p: argparse.ArgumentParser) -> None:
    pass


@_list_args.run
def _list(a: argparse.Namespace) -> int:
    from genzoo.config import named_configs
    from genzoo.registry import DATASETS, METRICS, MODELS

    for title, reg in (("models", MODELS), ("datasets", DATASETS), ("metrics", METRICS)):
        print(f"{title}:")
        for name in reg.names():
            print(f"  {name:<20} {reg.descriptions.get(name, '')}")
    print("configs:")
    for name in named_configs():
        print(f"  {name}")
    return 0


@command("download", "download a dataset's files with SHA-256 verification")
def _download_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="dataset (mnist)")
    p.add_argument("--data-dir")
    p.add_argument("--url", help="base URL to fetch the files from (default: the dataset's usual source)")
    p.add_argument("--force", action="store_true", help="download again even if the files exist")


@_download_args.run
def _download(a: argparse.Namespace) -> int:
    from genzoo.data import resolve_data_dir
    from genzoo.data.download import download_dataset

    for path in download_dataset(a.name, resolve_data_dir(a.data_dir), a.url, a.force):
        print(f"ok {path}")
    return 0


import genzoo.cli_guided  # noqa: E402, F401  (steps, synthesize: DRAW canvases, DGN-AM / PPGN)


# ----- entry point -----------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    from genzoo import __version__

    parser = argparse.ArgumentParser(prog="genzoo", description="Deep generative models of natural images.")
    parser.add_argument("--version", action="version", version=f"genzoo {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (add_args, _, help_text) in _COMMANDS.items():
        add_args(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: list[str] | None = None) -> int:
    from genzoo.config import ConfigError
    from genzoo.data import DataFileError
    from genzoo.registry import UnknownNameError
    from genzoo.train.checkpoint import CheckpointError
    from genzoo.train.engine import TrainingDiverged

    args = build_parser().parse_args(argv)
    try:
        return _COMMANDS[args.command][1](args)
    except (UnknownNameError, ConfigError, DataFileError, CheckpointError, TrainingDiverged, ValueError) as e:
        print(f"genzoo {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"genzoo {args.command}: interrupted; the last complete checkpoint is kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
