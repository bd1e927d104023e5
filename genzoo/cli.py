"""``genzoo`` command line: thin wrappers over :mod:`genzoo.api`.

    genzoo train MODEL [--data NAME] [--config NAME|PATH] [--set key=value ...] [--epochs N] ...
    genzoo sample RUN_DIR [-n 64] [-o grid.png] [--manifold] [--reconstruct]
    genzoo eval RUN_DIR [--metric nll ...] [--importance-samples K]
    genzoo list
    genzoo download NAME [--data-dir DIR] [--url BASE]
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
import traceback
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

    try:
        return parse_override(f"x={text}")[1]
    except UsageError:
        raise UsageError(f"{text!r} is not a YAML value (e.g. 3, 0.5, [1, 2], text; quote text with ': ')") from None


def _count(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer >= ``minimum`` (a clear message otherwise)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
            raise argparse.ArgumentTypeError(f"{value} is not valid; give {what}")
        return value

    parse.__name__ = "count"
    return parse


def _number(text: str) -> float:
    """An argparse type: a finite float."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


POSITIVE = _count(1)
NON_NEGATIVE = _count(0)


# ----- train -----------------------------------------------------------------------------------------
@command("train", "train a model (continues a run directory that has checkpoints)")
def _train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", nargs="?", help="model name (see `genzoo list`); omit with --resume or --config")
    p.add_argument("--data", help="dataset name (default: the config's, else digits)")
    p.add_argument("--data-dir", help="where dataset files are (default: $GENZOO_DATA_DIR or ./data)")
    p.add_argument("--config", help="a named config (`genzoo list`) or a YAML file")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field, e.g. --set model.latent_dim=2 --set train.lr=3e-4")
    p.add_argument("--epochs", type=POSITIVE)
    p.add_argument("--steps", type=POSITIVE, help="stop after this many optimisation steps")
    p.add_argument("--batch-size", type=POSITIVE)
    p.add_argument("--seed", type=NON_NEGATIVE)
    p.add_argument("--device", default=defaults.DEVICE, help="auto (CUDA if available), cpu, cuda, cuda:1, ...")
    p.add_argument("--run-dir", help="default: runs/<model>-<data>-<time>")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue this run from its last checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--keep-best", action="store_true",
                   help="also keep the weights of the best validation NLL (checkpoints/best.safetensors)")


@_train_args.run
def _train(a: argparse.Namespace) -> int:
    from genzoo.api import train

    overrides = list(a.overrides)
    if a.batch_size is not None:
        overrides.append(f"train.batch_size={a.batch_size}")
    if a.no_progress:
        overrides.append("train.progress=false")
    if a.keep_best:
        overrides.append("train.keep_best=true")
    if not (a.model or a.config or a.resume):
        raise UsageError("name a model (see `genzoo list`), a --config, or --resume RUN_DIR")
    if a.resume and a.run_dir and Path(a.resume) != Path(a.run_dir):
        raise UsageError(f"--resume {a.resume} and --run-dir {a.run_dir} name two run directories; give one")
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
    p.add_argument("-n", type=POSITIVE, default=defaults.SAMPLES, help="number of samples")
    p.add_argument("-o", "--out", default=None, help="PNG path (default: RUN_DIR/samples-seedS.png)")
    p.add_argument("--npz", help="also save the samples as float32 array 'images' in this .npz")
    p.add_argument("--seed", type=NON_NEGATIVE, default=defaults.SEED)
    p.add_argument("--nrow", type=POSITIVE)
    p.add_argument("--device", default=defaults.DEVICE, help="auto (CUDA if available), cpu, cuda, cuda:1, ...")
    p.add_argument("--class", dest="label", type=int, help="class label for class-conditional models")
    p.add_argument("--text", help="caption for text-conditional models")
    p.add_argument("--condition", action="append", default=[], metavar="KEY=VALUE",
                   help="any condition by key, e.g. --condition box=[[0.1,0.1,0.6,0.6]] (YAML values)")
    p.add_argument("--manifold", type=POSITIVE, metavar="GRID", help="VAE with 2-D latent: the learned manifold")
    p.add_argument("--reconstruct", action="store_true", help="test images beside their reconstructions")
    p.add_argument("--data-dir")


@_sample_args.run
def _sample(a: argparse.Namespace) -> int:
    import numpy as np

    from genzoo import api
    from genzoo.config import load_run_config
    from genzoo.fileio import check_writable_file
    from genzoo.images import save_sheet

    run = Path(a.run_dir)
    load_run_config(run)  # a clear error for a missing or broken run directory, before any work
    out = check_writable_file(Path(a.out) if a.out else run / f"samples-seed{a.seed}.png", "-o")
    if a.npz:
        check_writable_file(a.npz, "--npz")
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


def _option_key(key: str) -> str:
    """A metric or sampler option as typed -> its parameter name: dashes become underscores in the option,
    not in a metric prefix (``class-accuracy.n-samples`` -> ``class-accuracy.n_samples``)."""
    prefix, dot, option = key.rpartition(".")
    return prefix + dot + option.replace("-", "_")


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
    p.add_argument("--importance-samples", type=POSITIVE,
                   help="k for the importance-weighted bound (default 5000)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="metric option for every metric (n_samples=5000) or one (fid.extractor=inception)")
    p.add_argument("--samples", help="evaluate these images instead: a folder of images or an .npz 'images'")
    p.add_argument("--data", help="reference dataset (default: the run's)")
    p.add_argument("--data-dir")
    p.add_argument("--real-baseline", action="store_true", help="score held-out real data instead of samples")
    p.add_argument("--seed", type=NON_NEGATIVE, default=0)
    p.add_argument("--device", default=defaults.DEVICE, help="auto (CUDA if available), cpu, cuda, cuda:1, ...")
    p.add_argument("--batch-size", type=POSITIVE, default=256)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


@_eval_args.run
def _eval(a: argparse.Namespace) -> int:
    from genzoo.api import evaluate

    if not a.run_dir and not a.samples and not (a.real_baseline and a.data):
        raise UsageError("give a RUN_DIR, --samples PATH --data NAME, or --real-baseline --data NAME")
    options = {_option_key(k): _parse_value(v) for k, v in (_key_value(o) for o in a.option)}
    if a.importance_samples is not None:
        options["importance_samples"] = a.importance_samples
    samples = a.samples  # a folder of images or an .npz; the API reads and checks it

    def show(name: str, result: Any) -> None:  # as soon as a metric is done, so no score is ever lost
        print(result.summary(), flush=True)  # one line: scores ± errors, sample counts, notes (eval.jsonl: all)

    evaluate(
        a.run_dir, a.metrics, options=options, data=a.data, data_dir=a.data_dir, samples=samples,
        real_baseline=a.real_baseline, device=a.device, seed=a.seed, batch_size=a.batch_size, on_result=show,
        progress=not a.no_progress,
    )
    return 0


# ----- latent-space pictures -------------------------------------------------------------------------
def _latent_model(run_dir: str, device: str) -> Any:
    from genzoo.api import load
    from genzoo.latent import has_latent

    model = load(run_dir, device)
    if not has_latent(model):
        raise UsageError(f"model {model.name!r} has no latent code to walk (needs latent_dim and decode)")
    return model


@command("interpolate", "decode walks between random latent codes (Radford et al. 2016, Sec. 6.1)")
def _interpolate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir")
    p.add_argument("--pairs", type=POSITIVE, default=8, help="rows: one walk between two random codes each")
    p.add_argument("--steps", type=_count(2), default=8, help="images per walk, both ends included")
    p.add_argument("--mode", choices=("slerp", "linear"), default="slerp")
    p.add_argument("--label", type=int, help="class for conditional models")
    p.add_argument("--seed", type=NON_NEGATIVE, default=0)
    p.add_argument("-o", "--out", help="PNG path (default: RUN_DIR/interpolation-seedS.png)")
    p.add_argument("--device", default=defaults.DEVICE, help="auto (CUDA if available), cpu, cuda, cuda:1, ...")


@_interpolate_args.run
def _interpolate(a: argparse.Namespace) -> int:
    from genzoo.fileio import check_writable_file
    from genzoo.images import save_grid
    from genzoo.latent import interpolation_grid

    out = check_writable_file(Path(a.out or Path(a.run_dir) / f"interpolation-seed{a.seed}.png"), "-o")
    model = _latent_model(a.run_dir, a.device)
    images = interpolation_grid(model, a.pairs, a.steps, a.seed, a.mode, a.label)
    save_grid(images.cpu(), out, nrow=a.steps)
    print(f"wrote {out}")
    return 0


@command("arithmetic", "latent vector arithmetic on samples picked by index (Radford et al. 2016, Sec. 6.3)")
def _arithmetic_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir")
    p.add_argument("--expr", required=True, help='e.g. "a - b + c"')
    p.add_argument("--group", action="append", required=True, metavar="NAME=I,J,...",
                   help="indices into the sample grid of `genzoo sample RUN --seed S`, e.g. a=3,17,42")
    p.add_argument("--seed", type=NON_NEGATIVE, default=0, help="the seed of the sample grid the indices refer to")
    p.add_argument("--variations", type=NON_NEGATIVE, default=8, help="noisy variations of the result")
    p.add_argument("--noise", type=_number, default=0.25)
    p.add_argument("--label", type=int, help="class for conditional models")
    p.add_argument("-o", "--out", help="PNG path (default: RUN_DIR/arithmetic-seedS.png)")
    p.add_argument("--device", default=defaults.DEVICE, help="auto (CUDA if available), cpu, cuda, cuda:1, ...")


@_arithmetic_args.run
def _arithmetic(a: argparse.Namespace) -> int:
    from genzoo.fileio import check_writable_file
    from genzoo.images import save_grid
    from genzoo.latent import arithmetic_from_samples

    groups = {}
    for spec in a.group:
        name, _, idx = spec.partition("=")
        try:
            groups[name.strip()] = [int(i) for i in idx.split(",")]
        except ValueError:
            raise UsageError(f"--group {spec!r} is not NAME=I,J,... with integer indices") from None
        if not name.strip() or any(i < 0 for i in groups[name.strip()]):
            raise UsageError(f"--group {spec!r} is not NAME=I,J,... with indices >= 0")
    out = check_writable_file(Path(a.out or Path(a.run_dir) / f"arithmetic-seed{a.seed}.png"), "-o")
    model = _latent_model(a.run_dir, a.device)
    images = arithmetic_from_samples(model, groups, a.expr, a.seed, a.variations, a.noise, a.label)
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
    from genzoo.config import load_run_config
    from genzoo.fileio import check_writable_file
    from genzoo.report.html import write_report

    load_run_config(Path(a.run_dir))  # a clear error for a missing or broken run directory
    check_writable_file(Path(a.out) if a.out else Path(a.run_dir) / "report.html", "-o")
    print(f"wrote {write_report(a.run_dir, a.out, a.title)}")
    return 0


@command("classifier", "train and cache a dataset's reference classifier (features for FID, KID, IS, ...)")
def _classifier_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", help="digits, mnist or cifar10")
    p.add_argument("--data-dir")
    p.add_argument("--epochs", type=POSITIVE, help="default: the dataset's recorded setting")
    p.add_argument("--seed", type=NON_NEGATIVE, default=0)
    p.add_argument("--out-dir",
                   help="where to write it (default: $GENZOO_CACHE/classifiers or ~/.cache/genzoo/classifiers)")
    p.add_argument("--device", default=defaults.DEVICE, help="auto (CUDA if available), cpu, cuda, cuda:1, ...")


@_classifier_args.run
def _classifier(a: argparse.Namespace) -> int:
    import json as _json

    from genzoo.defaults import resolve_device
    from genzoo.metrics.classifier import train_reference_classifier

    path = train_reference_classifier(
        a.dataset, a.data_dir, a.out_dir, a.epochs, a.seed, resolve_device(a.device), verbose=True
    )
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
    from genzoo.fileio import check_writable_dir

    data_dir = check_writable_dir(resolve_data_dir(a.data_dir), "--data-dir")
    for path in download_dataset(a.name, data_dir, a.url, a.force):
        print(f"ok {path}")
    return 0


def _load_command_modules() -> None:
    """Import every ``genzoo/cli_*.py`` module: each registers its own commands with :func:`command`, so a
    feature adds its commands in its own file and nothing here changes."""
    import importlib
    import pkgutil

    import genzoo

    for info in pkgutil.iter_modules(genzoo.__path__):
        if info.name.startswith("cli_"):
            importlib.import_module(f"genzoo.{info.name}")


# ----- entry point -----------------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line (what is wrong and where to look), exit status 2."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        print(f"{self.prog}: error: {message} (see `{self.prog} --help`)", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    from genzoo import __version__

    _load_command_modules()
    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show the Python traceback of an error (also: GENZOO_DEBUG=1)")
    parser = _Parser(prog="genzoo", description="Deep generative models of natural images.", parents=[debug])
    parser.add_argument("--version", action="version", version=f"genzoo {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (add_args, _, help_text) in _COMMANDS.items():
        add_args(sub.add_parser(name, help=help_text, description=help_text, parents=[debug]))
    return parser


_OS_HINTS = {
    errno.EISDIR: "it is a directory; give a file path",
    errno.ENOTDIR: "a part of the path is a file, not a directory",
    errno.EEXIST: "it already exists (as a file?)",
    errno.EACCES: "permission denied; choose a writable location",
    errno.EPERM: "operation not permitted; choose a writable location",
    errno.EROFS: "read-only file system; choose a writable location",
    errno.ENOSPC: "no space left on the device",
    errno.ENOENT: "no such file or directory",
}


def describe_error(e: BaseException) -> tuple[str, int, bool]:
    """``(one-line message, exit status, expected)`` for an exception that ended a command.

    genzoo's own errors carry their exit status (2: usage, the input was wrong; 1: runtime); an OS error
    names its file and what would help; anything else is an unexpected (internal) error.
    """
    from genzoo.core.errors import GenzooError
    from genzoo.registry import UnknownNameError

    if isinstance(e, GenzooError):
        return str(e), e.exit_code, True
    if isinstance(e, UnknownNameError):
        return str(e), 2, True
    if isinstance(e, OSError) and e.errno is None:  # raised by genzoo (e.g. no reference classifier yet)
        return str(e), 1, True
    if isinstance(e, OSError):
        where = " -> ".join(str(f) for f in (e.filename, e.filename2) if f is not None)
        hint = _OS_HINTS.get(e.errno or -1, e.strerror or str(e))
        return (f"{where}: {hint}" if where else f"{hint} ({e})"), 1, True
    if isinstance(e, MemoryError):
        return "out of memory; try a smaller --batch-size or -n", 1, True
    if type(e).__name__ == "OutOfMemoryError":  # torch.cuda.OutOfMemoryError
        return "the GPU ran out of memory; try a smaller batch size", 1, True
    if isinstance(e, ValueError):  # a model's, a helper's or a plug-in's own check of user input
        return str(e), 2, True
    return f"internal error ({type(e).__name__}: {e})", 1, False


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def main(argv: list[str] | None = None) -> int:
    """Run one command; return its exit status (0 ok, 1 runtime error, 2 usage error, 130 interrupted).

    Every failure is one line on stderr; the Python traceback only with ``--debug`` or ``GENZOO_DEBUG=1``.
    """
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help, --version, or a bad argument (already printed)
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    debug = getattr(args, "debug", False) or os.environ.get("GENZOO_DEBUG", "").strip() not in ("", "0")
    prefix = f"genzoo {args.command}"
    try:
        return _COMMANDS[args.command][1](args)
    except KeyboardInterrupt:
        # the training engine says itself which checkpoint (if any) is kept; nothing more is claimed here
        if debug:
            traceback.print_exc()
        print(f"{prefix}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        if debug:
            traceback.print_exc()
        message, code, expected = describe_error(e)
        hint = "" if expected or debug else "; please report it (rerun with --debug for the traceback)"
        print(f"{prefix}: error: {_one_line(message)}{hint}", file=sys.stderr)
        return code


def console_main() -> None:
    """The ``genzoo`` command: :func:`main`, then the process's exit (see :func:`distributed.exit_process`)."""
    from genzoo.train.distributed import exit_process

    exit_process(main())


if __name__ == "__main__":
    console_main()
