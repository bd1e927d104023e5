"""Bad input to the CLI, as a new user types it: every rejected command gives a one-line message naming
what is wrong and what is valid, exits 2 (usage) or 1 (runtime), prints no traceback, and leaves every file
of the run and data directories as it was."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from genzoo import cli
from genzoo.cli import main
from genzoo.train import checkpoint as ckpt


def snapshot(root: Path) -> dict[str, tuple[str, int, str]]:
    """Every path under ``root`` with its kind, size and content hash (mtime aside: a rewrite with the
    same bytes would be missed, but so would nothing a user could notice)."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_dir():
            out[rel] = ("dir", 0, "")
        else:
            data = p.read_bytes()
            out[rel] = ("file", len(data), hashlib.sha256(data).hexdigest())
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trained tiny run, copies of it broken in the ways a user meets, and assorted bad inputs."""
    root = tmp_path_factory.mktemp("fuzz")
    run = root / "run"
    assert main(["train", "vae", "--steps", "2", "--run-dir", str(run), "--no-progress",
                 "--set", "train.tensorboard=false"]) == 0
    (root / "afile").write_text("not a directory")
    (root / "adir").mkdir()
    (root / "nodata").mkdir()
    # configs
    (root / "empty.yaml").write_text("")
    (root / "bad.yaml").write_text("model: [\n")
    (root / "list.yaml").write_text("- model\n- data\n")
    (root / "extra.yaml").write_text("model: {name: vae}\noptimiser: {lr: 1}\n")
    (root / "notmap.yaml").write_text("model: {name: vae}\ntrain: 5\n")
    (root / "binary.yaml").write_bytes(bytes(range(128, 256)) * 3)
    # images to score
    np.savez(root / "empty.npz")
    np.savez(root / "wrong.npz", images=np.zeros((10, 3, 8, 8), np.float32))
    np.savez(root / "nan.npz", images=np.full((10, 1, 8, 8), np.nan, np.float32))
    np.savez(root / "strings.npz", images=np.array(["a", "b"]))
    (root / "text.npz").write_text("hello")
    # broken run directories
    last = ckpt.list_checkpoints(run)[-1]

    def broken(name: str) -> Path:
        shutil.copytree(run, root / name)
        return root / name

    weights = ckpt.checkpoint_paths(broken("nanrun"), last)[0]
    with safe_open(weights, "pt") as f:
        meta = f.metadata()
    tensors = load_file(weights)
    first = next(iter(tensors))
    tensors[first] = torch.full_like(tensors[first], float("nan"))
    save_file(tensors, weights, metadata=meta)
    torch.save({}, ckpt.checkpoint_paths(broken("emptystate"), last)[1])
    state_path = ckpt.checkpoint_paths(broken("emptyopt"), last)[1]
    state = torch.load(state_path, weights_only=True)
    state["optimizers"] = {}
    torch.save(state, state_path)
    (broken("evdir") / "eval.jsonl").mkdir()
    (broken("emptycfg") / "config.yaml").write_text("")
    (broken("nosection") / "config.yaml").write_text("model: {name: vae}\ndata: {name: digits}\n")
    (broken("badcfg") / "config.yaml").write_text("model: {name: vae\n")
    # CIFAR: a directory where a batch file belongs
    py = root / "cifar" / "cifar-10-batches-py"
    (py / "data_batch_1").mkdir(parents=True)
    return root


USAGE, RUNTIME = 2, 1
CASES = [
    # counts at the boundary
    (["train", "vae", "--steps", "0"], USAGE, "--steps: 0 is not valid; give a positive integer"),
    (["train", "vae", "--steps", "-3"], USAGE, "--steps: -3 is not valid"),
    (["train", "vae", "--epochs", "-1"], USAGE, "--epochs: -1 is not valid"),
    (["train", "vae", "--batch-size", "0"], USAGE, "--batch-size: 0 is not valid"),
    (["train", "vae", "--batch-size", "-5"], USAGE, "--batch-size: -5 is not valid"),
    (["train", "vae", "--steps", "two"], USAGE, "--steps: 'two' is not an integer"),
    (["sample", "{root}/run", "-n", "0"], USAGE, "-n: 0 is not valid; give a positive integer"),
    (["sample", "{root}/run", "-n", "-5"], USAGE, "-n: -5 is not valid"),
    (["eval", "{root}/run", "--importance-samples", "0"], USAGE, "--importance-samples: 0 is not valid"),
    (["eval", "{root}/run", "--importance-samples", "-3"], USAGE, "--importance-samples: -3 is not valid"),
    (["eval", "{root}/run", "--option", "importance_samples=0"], USAGE, "metric.importance_samples: 0 .* >= 1"),
    (["eval", "{root}/run", "--option", "subset=abc"], USAGE, "metric.subset: 'abc' is not valid; expected an int"),
    (["eval", "{root}/run", "--metric", "caption-alignment", "--option", "ink_threshold=1.5"], USAGE,
     r"metric.ink_threshold: 1.5 is not valid; must be in \[0, 1\)"),
    (["interpolate", "{root}/run", "--steps", "1"], USAGE, "--steps: 1 is not valid; give an integer >= 2"),
    # config values, type-checked against the dataclasses and CONSTRAINTS
    (["train", "vae", "--set", "train.lr=abc"], USAGE, "train.lr: 'abc' is not valid; expected a number"),
    (["train", "vae", "--set", "train.log_every=0"], USAGE, "train.log_every: 0 is not valid; must be >= 1"),
    (["train", "vae", "--set", "train.steps=0"], USAGE, "train.steps: 0 is not valid; must be >= 1"),
    (["train", "vae", "--set", "train.optimizer=adm"], USAGE, "train.optimizer: 'adm' .* one of 'adam'"),
    (["train", "vae", "--set", "train.amp=maybe"], USAGE, "train.amp: 'maybe' .* expected true or false"),
    (["train", "vae", "--set", "train.grad_clip=-1"], USAGE, "train.grad_clip: -1.0 is not valid; must be > 0"),
    (["train", "vae", "--set", "train.betas=[0.9]"], USAGE, r"train.betas: \[0.9\] .* \[beta1, beta2\]"),
    (["train", "vae", "--set", "train.learning_rate=1"], USAGE, "unknown train field.*learning_rate.*known:"),
    (["train", "vae", "--set", "model.latent_dim=abc"], USAGE, "model.latent_dim: 'abc' .* expected an integer"),
    (["train", "vae", "--set", "model.hidden=[0]"], USAGE, r"model.hidden: \[0\] .* every element must be >= 1"),
    (["train", "vae", "--set", "train"], USAGE, "override 'train' is not of the form section.key=value"),
    (["train", "vae", "--set", "data.foo=1"], USAGE, r"unknown data\.\* key\(s\) foo for dataset 'digits'"),
    (["train", "vae", "--data", "mnist", "--set", "data.bogus=1"], USAGE, "data.* key.*bogus.*known: binarize"),
    (["train", "vae", "--data", "mnist", "--set", "data.binarize=static"], USAGE, "binarize: 'static' .* 'dynamic'"),
    (["train", "--config", "{root}/empty.yaml"], USAGE, "empty.yaml: empty config"),
    (["train", "--config", "{root}/bad.yaml"], USAGE, "bad.yaml: not valid YAML at line 2"),
    (["train", "--config", "{root}/list.yaml"], USAGE, "list.yaml: a config is a mapping"),
    (["train", "--config", "{root}/extra.yaml"], USAGE, "extra.yaml: unknown section.*optimiser"),
    (["train", "--config", "{root}/notmap.yaml"], USAGE, "notmap.yaml: section 'train' must be a mapping"),
    (["train", "--config", "{root}/adir"], USAGE, "adir' is a directory"),
    (["train", "--config", "nosuchconfig"], USAGE, "config 'nosuchconfig' not found; named configs:"),
    (["train", "nosuchmodel"], USAGE, "unknown model 'nosuchmodel'; known models:"),
    (["train"], USAGE, "name a model"),
    (["train", "vae", "--resume", "{root}/run", "--set", "model.latent_dim=3"], USAGE, "keeps its model and data"),
    # devices
    (["train", "vae", "--device", "tpu"], USAGE, "--device 'tpu'"),
    # outputs that cannot be written
    (["train", "vae", "--run-dir", "{root}/afile/run"], USAGE, "afile is a file, not a directory"),
    (["train", "vae", "--run-dir", "{root}/afile"], USAGE, "run directory .*afile is a file"),
    (["sample", "{root}/run", "-o", "{root}/adir"], USAGE, "-o .*adir is a directory; give a file path"),
    (["sample", "{root}/run", "--npz", "{root}/afile/x.npz"], USAGE, "afile is a file, not a directory"),
    (["eval", "{root}/evdir", "--importance-samples", "2"], USAGE, "eval.jsonl is a directory"),
    (["report", "{root}/run", "-o", "{root}/adir"], USAGE, "adir is a directory"),
    # run directories that are missing or broken
    (["sample", "{root}/missing"], USAGE, "missing: no such run directory"),
    (["report", "{root}/missing"], USAGE, "missing: no such run directory"),
    (["report", "{root}/afile"], USAGE, "afile: not a directory"),
    (["sample", "{root}/adir"], USAGE, "not a genzoo run directory"),
    (["sample", "{root}/emptycfg"], USAGE, "config.yaml: empty file"),
    (["sample", "{root}/nosection"], USAGE, r"config.yaml: missing section\(s\) train"),
    (["sample", "{root}/badcfg"], USAGE, "config.yaml: not valid YAML"),
    (["train", "--resume", "{root}/nosection"], USAGE, r"missing section\(s\) train"),
    (["sample", "{root}/nanrun"], RUNTIME, "step-.*safetensors: non-finite weights .*tensor '"),
    (["eval", "{root}/nanrun", "--importance-samples", "2"], RUNTIME, "non-finite weights"),
    (["train", "--resume", "{root}/nanrun", "--steps", "4"], RUNTIME, "non-finite weights"),
    (["train", "--resume", "{root}/emptystate", "--steps", "4"], RUNTIME, "state-.*pt: training state lacks step"),
    (["train", "--resume", "{root}/emptyopt", "--steps", "4"], RUNTIME, "empty optimiser state"),
    # images given to eval
    (["eval"], USAGE, "give a RUN_DIR"),
    (["eval", "--real-baseline", "--data", "digits"], USAGE, "no metric to compute"),
    (["eval", "--real-baseline", "--data", "nosuch", "--metric", "fid"], USAGE, "unknown dataset 'nosuch'"),
    (["eval", "{root}/run", "--option", "importance_samples"], USAGE, "'importance_samples' is not KEY=VALUE"),
    (["sample", "{root}/run", "--condition", "box=[["], USAGE, "'\\[\\[' is not a YAML value"),
    (["sample", "{root}/run", "--class", "3"], USAGE, "model 'vae' does not take condition 'label'"),
    (["train", "vae", "--set", "train.lr=[1,2"], USAGE, "override 'train.lr=\\[1,2': .* is not a YAML value"),
    (["train", "vae", "--set", "train.per_group=5"], USAGE, "train.per_group: 5 is not valid; expected a mapping"),
    (["train", "--config", "{root}/binary.yaml"], USAGE, "binary.yaml: not a text file"),
    (["arithmetic", "{root}/run", "--expr", "a", "--group", "a=x"], USAGE, "--group 'a=x' is not NAME=I,J"),
    (["eval", "{root}/run", "--metric", "nope"], USAGE, "unknown metric 'nope'"),
    (["eval", "--samples", "{root}/missing.npz", "--data", "digits"], USAGE, "missing.npz: --samples: no such"),
    (["eval", "--samples", "{root}/empty.npz", "--data", "digits"], USAGE, "empty.npz: .*holds no arrays"),
    (["eval", "--samples", "{root}/text.npz", "--data", "digits"], USAGE, "text.npz: --samples: not an .npz"),
    (["eval", "--samples", "{root}/strings.npz", "--data", "digits"], USAGE, "strings.npz: .*dtype <U1"),
    (["eval", "--samples", "{root}/adir", "--data", "digits"], USAGE, "adir: --samples: no image files"),
    (["eval", "--samples", "{root}/wrong.npz", "--data", "digits", "--metric", "fid"], USAGE,
     r"shape \(10, 3, 8, 8\); 'digits' images need \(N, 1, 8, 8\)"),
    (["eval", "--samples", "{root}/nan.npz", "--data", "digits", "--metric", "fid"], USAGE,
     "640 non-finite value"),
    # data
    (["train", "vae", "--data", "mnist", "--data-dir", "{root}/nodata", "--run-dir", "{root}/new"], USAGE,
     "train-images-idx3-ubyte.gz: file not found"),
    (["train", "vae", "--data", "cifar10", "--data-dir", "{root}/cifar", "--run-dir", "{root}/new"], USAGE,
     "data_batch_1: is a directory"),
    (["train", "vae", "--data-dir", "{root}/afile", "--run-dir", "{root}/new"], USAGE,
     "afile: is a file; --data-dir must be a directory"),
    (["download", "nosuch", "--data-dir", "{root}/nodata"], USAGE, "no download source known for 'nosuch'"),
    (["download", "mnist", "--data-dir", "{root}/afile"], USAGE, "--data-dir .*afile is a file"),
]
if not torch.cuda.is_available():
    CASES.append((["train", "vae", "--device", "cuda"], USAGE, "CUDA is not available on this machine"))


@pytest.mark.parametrize("argv, code, message", CASES, ids=[" ".join(c[0])[:60] for c in CASES])
def test_rejected_command_says_why_and_changes_nothing(
    world: Path, argv: list[str], code: int, message: str, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(world / "adir")  # a default run directory would land here, and be seen
    monkeypatch.delenv("GENZOO_DEBUG", raising=False)
    argv = [a.replace("{root}", str(world)) for a in argv]
    before = snapshot(world)
    capsys.readouterr()
    assert main(argv) == code
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"genzoo {argv[0]}: error: ") if argv else True
    assert re.search(message, lines[0]), lines[0]
    assert snapshot(world) == before


def test_debug_shows_the_traceback(world: Path, capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    argv = ["sample", str(world / "missing")]
    monkeypatch.delenv("GENZOO_DEBUG", raising=False)
    assert main(["--debug", *argv]) == 2
    assert "Traceback" in capsys.readouterr().err
    assert main([*argv, "--debug"]) == 2
    assert "Traceback" in capsys.readouterr().err
    monkeypatch.setenv("GENZOO_DEBUG", "1")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].endswith("no such run directory")


def test_interrupt_unexpected_and_os_errors(capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GENZOO_DEBUG", raising=False)
    add_args, _, help_text = cli._COMMANDS["list"]

    def with_failure(exc: BaseException) -> None:
        def run(a: object) -> int:
            raise exc

        monkeypatch.setitem(cli._COMMANDS, "list", (add_args, run, help_text))

    with_failure(KeyboardInterrupt())
    assert main(["list"]) == 130
    err = capsys.readouterr().err
    assert err.strip() == "genzoo list: interrupted"  # the engine, not the CLI, says what checkpoint is kept

    with_failure(RuntimeError("boom\nsecond line"))
    assert main(["list"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("genzoo list: error: internal error (RuntimeError: boom second line)")
    assert "--debug" in err and len(err.splitlines()) == 1

    with_failure(IsADirectoryError(21, "Is a directory", "/x/eval.jsonl"))
    assert main(["list"]) == 1
    assert capsys.readouterr().err.strip() == "genzoo list: error: /x/eval.jsonl: it is a directory; give a file path"

    with_failure(PermissionError(13, "Permission denied", "/ro/run"))
    assert main(["list"]) == 1
    assert "/ro/run: permission denied; choose a writable location" in capsys.readouterr().err


def test_argparse_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nosuchcommand"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "invalid choice: 'nosuchcommand'" in err[0] and "genzoo --help" in err[0]
    assert main(["sample"]) == 2
    assert "the following arguments are required: run_dir" in capsys.readouterr().err
    assert main(["--version"]) == 0
