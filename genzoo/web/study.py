"""Human evaluation studies: the config, creating a study folder, and each participant's trials.

The protocol follows the "% judged real" experiments the lecture names as the first way to judge
samples: Denton et al. 2015 (LAPGAN, Sec. 4.3: single images shown for a fixed time, "real or
generated?") and Isola et al. 2017 (pix2pix, Sec. 4.2: a real and a generated image side by side for
1 s, "which is real?", after practice trials with feedback). A study config (YAML)::

    name: digits-dcgan            # the study's name (URL /s/<name>/)
    design: single                # single: one image, real or fake? | 2afc: which of two is real?
    data: {name: digits, split: test}   # the real images (dataset name, split, reader options)
    models:                       # what is judged: runs, or folders / .npz arrays of samples
      - {name: dcgan, run: runs/dcgan-digits}
      - {name: mine, samples: my_samples.npz}
    trials: 20                    # judged trials per participant (balanced over real and models)
    practice: 2                   # practice trials first, with feedback, not counted
    attention_checks: 2           # unmistakable trials (pure noise as "generated") mixed into the rest
    max_check_failures: 0         # a participant who fails more checks is excluded from the results
    presentation_ms: 1000         # the image(s) are hidden after this long (0: shown until answered)
    pool: 100                     # images stored per model (and of real data); fixed at creation
    seed: 0

Relative paths are relative to the config file's folder. ``create_study`` draws every image once and
stores it (``images/<opaque id>.png``) with the key in the study's SQLite database, so results are
reproducible and the file names reveal nothing. A participant's trials are a pure function of the
study seed and the participant's number (:func:`make_trials`): each participant sees ``trials`` main
trials split evenly between real and generated (single design; the generated half split evenly between
models, the remainder rotating with the participant number) or ``trials`` pairs split evenly between
models with the real image's side balanced (2AFC); participant ``p`` takes the next images of a fixed
per-source permutation of the pool, so the pool is covered evenly across participants.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import secrets
import shutil
import time
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from genzoo.web import StudyError

DESIGNS = ("single", "2afc")
RESPONSES = {"single": ("real", "fake"), "2afc": ("left", "right")}
NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
REAL = "real"  # source name of real images
NOISE = "noise"  # source name of attention-check images


@dataclass
class ModelSource:
    """One thing being judged: a run directory (sampled with ``seed``) or stored samples."""

    name: str
    run: str | None = None
    samples: str | None = None  # a folder of images or an .npz with array 'images'
    label: int | None = None  # conditional runs: sample this class only (default: every class in turn)


@dataclass
class StudyConfig:
    """A study's settings (see the module docstring); defaults are pix2pix's AMT protocol where it has one."""

    name: str
    data: dict[str, Any]
    models: list[ModelSource]
    design: str = "single"
    trials: int = 20
    practice: int = 2
    attention_checks: int = 2
    max_check_failures: int = 0
    presentation_ms: int = 1000
    pool: int = 100
    seed: int = 0
    data_dir: str | None = None
    instructions: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _field_error(where: str, field_name: str, value: Any, valid: str) -> StudyError:
    return StudyError(f"{where}: {field_name} = {value!r} is not valid; {valid}")


def _check_name(where: str, field_name: str, value: Any) -> str:
    if not isinstance(value, str) or not value or not set(value) <= NAME_CHARS or value.startswith("."):
        raise _field_error(where, field_name, value, "use letters, digits, '-', '_' and '.'")
    return value


def _int(where: str, doc: dict[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    value = doc.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise _field_error(where, key, value, f"an integer in [{lo}, {hi}]")
    return value


def parse_config(
    doc: Any, where: str = "study config", base: Path | None = None, check_paths: bool = True
) -> StudyConfig:
    """Validate a config mapping; relative paths are resolved against ``base``. ``check_paths=False``
    (a stored study's config) does not require the runs and sample files to exist any more."""
    if not isinstance(doc, dict):
        raise StudyError(f"{where}: expected a mapping with name, data and models")
    known = {f.name for f in dataclasses.fields(StudyConfig)}
    unknown = sorted(set(doc) - known)
    if unknown:
        raise StudyError(f"{where}: unknown field(s) {', '.join(unknown)}; fields are {', '.join(sorted(known))}")
    for key in ("name", "data", "models"):
        if key not in doc:
            raise StudyError(f"{where}: missing field {key!r}")
    name = _check_name(where, "name", doc["name"])
    data = doc["data"]
    if isinstance(data, str):
        data = {"name": data}
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise _field_error(where, "data", data, "a dataset name or {name: NAME, split: test, ...options}")
    data = {"split": "test", **data}
    design = doc.get("design", "single")
    if design not in DESIGNS:
        raise _field_error(where, "design", design, f"one of {', '.join(DESIGNS)}")
    models_doc = doc["models"]
    if not isinstance(models_doc, list) or not models_doc:
        raise _field_error(where, "models", models_doc, "a non-empty list of {name, run | samples}")
    models: list[ModelSource] = []
    for i, m in enumerate(models_doc):
        w = f"{where}: models[{i}]"
        if not isinstance(m, dict) or set(m) - {"name", "run", "samples", "label"}:
            raise StudyError(f"{w}: expected {{name, run | samples, label}}, got {m!r}")
        mname = _check_name(w, "name", m.get("name"))
        if mname in (REAL, NOISE) or mname in {x.name for x in models}:
            raise _field_error(w, "name", mname, f"names must be unique and not {REAL!r} or {NOISE!r}")
        if (m.get("run") is None) == (m.get("samples") is None):
            raise StudyError(f"{w}: give exactly one of run (a run directory) or samples (a folder or .npz)")
        path = Path(str(m.get("run") or m.get("samples"))).expanduser()
        if base is not None and not path.is_absolute():
            path = base / path
        if check_paths and not path.exists():
            raise StudyError(f"{w}: {'run' if m.get('run') else 'samples'} path {str(path)!r} does not exist")
        label = m.get("label")
        if label is not None and (isinstance(label, bool) or not isinstance(label, int) or label < 0):
            raise _field_error(w, "label", label, "a class index >= 0")
        models.append(ModelSource(mname, str(path) if m.get("run") else None,
                                  str(path) if m.get("samples") else None, label))
    trials = _int(where, doc, "trials", 20, 1, 10_000)
    checks = _int(where, doc, "attention_checks", 2, 0, 100)
    if checks > trials:
        raise _field_error(where, "attention_checks", checks, f"at most trials = {trials}")
    per_model = math.ceil(trials / (2 if design == "single" else 1) / len(models))
    pool = _int(where, doc, "pool", 100, 1, 100_000)
    need = max(per_model, trials if design == "2afc" else math.ceil(trials / 2))
    if pool < need:
        raise _field_error(where, "pool", pool, f"at least {need} so that no participant sees an image twice")
    data_dir = doc.get("data_dir")
    if data_dir is not None:
        data_dir = str(base / data_dir) if base is not None and not Path(data_dir).is_absolute() else str(data_dir)
    instructions = doc.get("instructions", "")
    if not isinstance(instructions, str):
        raise _field_error(where, "instructions", instructions, "a string")
    return StudyConfig(
        name=name, data=data, models=models, design=design, trials=trials,
        practice=_int(where, doc, "practice", 2, 0, 100),
        attention_checks=checks,
        max_check_failures=_int(where, doc, "max_check_failures", 0, 0, 100),
        presentation_ms=_int(where, doc, "presentation_ms", 1000, 0, 600_000),
        pool=pool, seed=_int(where, doc, "seed", 0, 0, 2**31 - 1), data_dir=data_dir, instructions=instructions,
    )


def load_config(path: str | os.PathLike[str]) -> StudyConfig:
    """Read and validate a study config YAML file."""
    p = Path(path)
    if not p.is_file():
        raise StudyError(f"{p}: no such study config file")
    try:
        doc = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise StudyError(f"{p}: not valid YAML ({str(e).splitlines()[0]})") from None
    return parse_config(doc, str(p), p.resolve().parent)


# ----- images --------------------------------------------------------------------------------------------
def _as_images(x: Any) -> np.ndarray:
    """Float images (N, C, H, W) in [0, 1] (a video's first frame) -> uint8 (N, H, W, C)."""
    import torch

    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    t = t.detach().float().cpu()
    if t.dim() == 5:
        t = t[:, 0]
    if t.dim() != 4 or t.shape[1] not in (1, 3):
        raise StudyError(f"expected images (N, C, H, W) with 1 or 3 channels, got {tuple(t.shape)}")
    return (t.clamp(0, 1).permute(0, 2, 3, 1).numpy() * 255 + 0.5).astype(np.uint8)


def _png(img: np.ndarray) -> bytes:
    from PIL import Image

    buf = BytesIO()
    Image.fromarray(img[..., 0] if img.shape[2] == 1 else img).save(buf, format="PNG")
    return buf.getvalue()


def _draw_model(src: ModelSource, n: int, seed: int) -> np.ndarray:
    from genzoo.data.folder import read_image_set
    from genzoo.web import sample_images

    if src.samples is not None:
        x = read_image_set(src.samples)
        if len(x) < n:
            raise StudyError(f"models {src.name!r}: {src.samples} holds {len(x)} images; the study needs {n}")
        return _as_images(x[:n])
    from genzoo.api import load

    model = load(src.run)
    if src.label is None:
        return _as_images(sample_images(model, n, seed))
    k = int(getattr(getattr(model, "data_info", None), "num_classes", 0))
    if "label" not in model.condition_keys() or not 0 <= src.label < k:
        raise StudyError(f"models {src.name!r}: label {src.label} given, but the run is not conditional on "
                         f"{k} classes")
    return _as_images(sample_images(model, n, seed, src.label))


def _draw_real(cfg: StudyConfig, n: int) -> np.ndarray:
    from genzoo.data import load_dataset

    opts = {k: v for k, v in cfg.data.items() if k not in ("name", "split")}
    data = load_dataset(cfg.data["name"], cfg.data["split"], cfg.data_dir, **opts)
    if len(data) < n:
        raise StudyError(f"data: split {cfg.data['split']!r} of {cfg.data['name']!r} has {len(data)} images; "
                         f"the study needs {n}")
    idx = np.random.default_rng([cfg.seed, 1]).choice(len(data), n, replace=False)
    import torch

    return _as_images(data.subset(torch.as_tensor(np.sort(idx))).tensor(cfg.seed))


def _noise(shape: tuple[int, ...], n: int, seed: int) -> np.ndarray:
    """Unmistakably generated images: independent uniform pixels (no real image looks like this)."""
    return np.random.default_rng([seed, 2]).integers(0, 256, size=(n, *shape), dtype=np.uint8)


# ----- creating a study ----------------------------------------------------------------------------------
def create_study(config: str | os.PathLike[str] | StudyConfig, out: str | os.PathLike[str] | None = None) -> Path:
    """Draw and store every image of the study, and its empty answer database; returns the study folder.

    ``out`` defaults to ``studies/<name>``. An existing folder is an error (a study's images never change).
    Everything is written to a temporary folder first, so a failed creation leaves nothing behind.
    """
    from genzoo.web import store

    cfg = config if isinstance(config, StudyConfig) else load_config(config)
    dest = Path(out) if out is not None else Path("studies") / cfg.name
    if dest.exists():
        raise StudyError(f"{dest} already exists; a study's images are fixed once created (choose another -o)")
    n_practice_fake = math.ceil(cfg.practice / 2) if cfg.design == "single" else cfg.practice
    n_practice_real = cfg.practice - n_practice_fake if cfg.design == "single" else cfg.practice
    n_check_real = cfg.attention_checks if cfg.design == "2afc" else 0
    real = _draw_real(cfg, cfg.pool + n_practice_real + n_check_real)
    sources: dict[str, np.ndarray] = {REAL: real}
    for i, m in enumerate(cfg.models):
        extra = n_practice_fake if i == 0 else 0  # practice images come from the first model
        sources[m.name] = _draw_model(m, cfg.pool + extra, cfg.seed + 1000 * i)
        if sources[m.name].shape[1:] != real.shape[1:]:
            raise StudyError(f"models {m.name!r}: images are {sources[m.name].shape[1:]} (H, W, C) but the real "
                             f"ones are {real.shape[1:]}")
    noise = _noise(real.shape[1:], cfg.attention_checks, cfg.seed)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.creating-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    salt = secrets.token_bytes(16)
    rows: list[tuple[str, str, str, int]] = []
    try:
        (tmp / "images").mkdir(parents=True)

        def put(arr: np.ndarray, source: str, role: str, index: int) -> None:
            data = _png(arr)
            image_id = hashlib.sha256(salt + f"{source}/{role}/{index}".encode() + data).hexdigest()[:32]
            (tmp / "images" / f"{image_id}.png").write_bytes(data)
            rows.append((image_id, source, role, index))

        for i in range(cfg.pool):
            for source, arr in sources.items():
                put(arr[i], source, "main", i)
        for j in range(n_practice_real):
            put(real[cfg.pool + j], REAL, "practice", j)
        for j in range(n_practice_fake):
            put(sources[cfg.models[0].name][cfg.pool + j], cfg.models[0].name, "practice", j)
        for j in range(cfg.attention_checks):
            put(noise[j], NOISE, "check", j)
        for j in range(n_check_real):
            put(real[cfg.pool + n_practice_real + j], REAL, "check", j)
        meta = {"config": cfg.to_dict(), "created": time.time(), "image_shape": list(real.shape[1:])}
        (tmp / "study.json").write_text(json.dumps(meta, indent=1))
        store.initialise(tmp / store.DB_NAME, cfg, rows)
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


# ----- trials ---------------------------------------------------------------------------------------------
@dataclass
class Trial:
    """One screen: ``images`` (1, or 2 as [left, right]); ``truth`` the correct response."""

    index: int
    kind: str  # practice | main | check
    model: str | None  # the generated image's source (None for a real image in the single design)
    images: list[str]
    truth: str


def _split_even(total: int, parts: int, rotate: int) -> list[int]:
    base, rem = divmod(total, parts)
    return [base + (1 if (i - rotate) % parts < rem else 0) for i in range(parts)]


def make_trials(
    cfg: StudyConfig, pools: dict[tuple[str, str], list[str]], participant: int
) -> list[Trial]:
    """The trial list of participant number ``participant`` (0, 1, ...): a pure function of the config,
    the stored pools (``(source, role) -> image ids in pool order``) and the number."""
    rng = np.random.default_rng([cfg.seed, 3, participant])
    models = [m.name for m in cfg.models]

    def take(source: str, count: int, offset_slot: int) -> list[str]:
        pool = pools[(source, "main")]
        perm = np.random.default_rng([cfg.seed, 4, models.index(source) + 1 if source in models else 0]).permutation(
            len(pool))
        start = participant * offset_slot
        return [pool[perm[(start + j) % len(pool)]] for j in range(count)]

    main: list[tuple[str | None, list[str], str]] = []  # (model, images, truth)
    if cfg.design == "single":
        n_real = cfg.trials // 2
        counts = _split_even(cfg.trials - n_real, len(models), participant)
        per_model_slot = math.ceil((cfg.trials - n_real) / len(models))
        main += [(None, [i], "real") for i in take(REAL, n_real, n_real)]
        for m, c in zip(models, counts):
            main += [(m, [i], "fake") for i in take(m, c, per_model_slot)]
        order = rng.permutation(len(main))
        main = [main[i] for i in order]
    else:
        counts = _split_even(cfg.trials, len(models), participant)
        per_model_slot = math.ceil(cfg.trials / len(models))
        fakes = [(m, i) for m, c in zip(models, counts) for i in take(m, c, per_model_slot)]
        reals = take(REAL, cfg.trials, cfg.trials)
        fakes = [fakes[i] for i in rng.permutation(len(fakes))]
        sides = np.array(["left"] * (cfg.trials // 2) + ["right"] * (cfg.trials - cfg.trials // 2))
        if participant % 2 and cfg.trials % 2:  # an odd count: alternate which side gets the extra one
            sides = np.where(sides == "left", "right", "left")
        sides = sides[rng.permutation(len(sides))]
        for (m, fake), real, side in zip(fakes, reals, sides):
            main.append((m, [real, fake] if side == "left" else [fake, real], str(side)))

    checks: list[tuple[str | None, list[str], str]] = []
    noise = pools.get((NOISE, "check"), [])
    for j in range(cfg.attention_checks):
        if cfg.design == "single":
            checks.append((NOISE, [noise[j]], "fake"))
        else:
            real = pools[(REAL, "check")][j]
            side = "left" if rng.random() < 0.5 else "right"
            checks.append((NOISE, [real, noise[j]] if side == "left" else [noise[j], real], side))
    sequence: list[tuple[str, tuple[str | None, list[str], str]]] = [("main", t) for t in main]
    # checks go anywhere after the first judged trial, each in its own gap
    slots = sorted(rng.choice(np.arange(1, len(main) + 1), size=min(len(checks), len(main)), replace=False)) \
        if checks else []
    for k, (slot, chk) in enumerate(zip(slots, checks)):
        sequence.insert(int(slot) + k, ("check", chk))

    practice: list[tuple[str, tuple[str | None, list[str], str]]] = []
    p_real, p_fake = pools.get((REAL, "practice"), []), pools.get((models[0], "practice"), [])
    if cfg.design == "single":
        items = [(None, [i], "real") for i in p_real] + [(models[0], [i], "fake") for i in p_fake]
        practice = [("practice", items[i]) for i in rng.permutation(len(items))]
    else:
        for j, (real, fake) in enumerate(zip(p_real, p_fake)):
            side = "left" if (j + participant) % 2 == 0 else "right"
            practice.append(("practice", (models[0], [real, fake] if side == "left" else [fake, real], side)))
    return [Trial(i, kind, m, imgs, truth) for i, (kind, (m, imgs, truth)) in enumerate(practice + sequence)]


def judged_real(design: str, truth: str, response: str) -> bool:
    """Whether the generated image was judged real: single design, response 'real' to a generated image;
    2AFC, the generated side chosen (the response is not the real image's side)."""
    if design == "single":
        return response == "real"
    return response != truth
