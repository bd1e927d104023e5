"""`genzoo reproduce`: a tiny end-to-end run on the digits (seconds), with the entry table overridden."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

from genzoo import api
from genzoo.cli import main
from genzoo.reproduce import (
    BEGIN,
    END,
    ENTRIES,
    Entry,
    ReproduceError,
    _fmt,
    read_results,
    render_markdown,
    reproduce,
    update_markdown,
    within,
    write_curve_svg,
)

TINY = Entry(
    "vae-digits", metric="nll", key="nll_nats", higher_is_better=False, paper=30.0,
    citation="a made-up number for the test", options={"importance_samples": 4, "subset": 40},
    curve_options={"importance_samples": 2, "subset": 20},
    overrides={"train.steps": 100000, "train.batch_size": 64, "train.sample_every": 100000,
               "train.checkpoint_every": 100000, "train.eval_every": 100000, "train.tensorboard": False},
)


def test_tiny_reproduction_end_to_end(tmp_path: Path) -> None:
    results = tmp_path / "results.jsonl"
    row = reproduce("tiny", budget_minutes=0.04, out_dir=tmp_path / "runs", results_file=results,
                    curve_points=2, entries={"tiny": TINY})
    # the budget (2.4 s of training), not the 100,000-step schedule, ended training
    assert row["stopped_by"] == "budget" and 0 < row["steps"] < 100000
    assert row["train_s"] >= 0.04 * 60 and row["epochs"] == pytest.approx(row["steps"] / (1257 // 64), rel=1e-3)
    # the recorded number is the paper's metric of the final checkpoint, with the entry's protocol
    again = api.evaluate(row["run_dir"], ["nll"], options=TINY.options, write=False)["nll"]
    assert row["value"] == pytest.approx(again["nll_nats"]) and math.isfinite(row["value"])
    assert row["stderr"] == pytest.approx(again["nll_stderr"])
    # curve: the points in training-time order, the last one is the final protocol's number
    times = [p["train_s"] for p in row["curve"]]
    assert times == sorted(times) and row["curve"][-1]["value"] == row["value"] and len(row["curve"]) >= 2
    assert row["paper"] == 30.0 and set(row["time_to"]) == {"1%", "5%", "10%"}
    assert read_results(results) == [json.loads(json.dumps(row, default=str))]
    md = render_markdown(read_results(results))
    assert "tiny (`vae-digits`)" in md and "budget" in md
    svg = write_curve_svg(row, tmp_path / "curve.svg").read_text()
    assert svg.startswith("<svg") and "polyline" in svg


def test_within_and_table() -> None:
    assert within(89.0, 88.71, 0.01, higher_is_better=False)
    assert not within(90.0, 88.71, 0.01, higher_is_better=False)
    assert within(215.0, 225.0, 0.05, higher_is_better=True) and not within(200.0, 225.0, 0.10, True)
    assert not within(1.0, None, 0.10, True)
    # an error is printed to the value's own precision (an accuracy's 0.0026 is not "0.00")
    assert _fmt(0.927, 0.0026) == "0.927 ± 0.003" and _fmt(128.934, 1.862) == "128.93 ± 1.86"
    assert _fmt(3.14159, 0.0123) == "3.142 ± 0.012" and _fmt(7.92) == "7.92" and _fmt(None) == "—"
    need = {"vae", "vae2", "nade", "pixelcnn", "row-lstm", "diagonal-bilstm", "gan", "cgan", "gmmn", "gmmn-ae",
            "dcgan", "acgan"}
    assert need <= set(ENTRIES)
    import inspect

    from genzoo.config import named_configs
    from genzoo.registry import METRICS

    for name, e in ENTRIES.items():
        assert e.config in named_configs(), name
        assert e.metric in METRICS.names(), name
        # every option the entry passes is a parameter of its metric (a typo would only fail at the end)
        params = set(inspect.signature(METRICS.get(e.metric)).parameters) - {"ctx"}
        assert set(e.options) <= params and set(e.curve_options) <= params, (name, params)
        # a metric that reads features names its extractor, so reproduce trains a missing reference
        # classifier before the training (not after an hour of it)
        if "extractor" in params:
            assert e.options.get("extractor", "").startswith("classifier:"), name
    # every family of the lecture's Extensions half that has a number on staged data has an entry
    extensions = {"draw", "draw-noattn", "vpn", "vgan", "pix2pix", "gan-int-cls", "gawwn", "lapgan", "gated-pixelcnn"}
    assert extensions <= set(ENTRIES)


#: config overrides that make an entry's model and data tiny (seconds), keeping its metric and key
TINY_OVERRIDES = {
    "draw": {"model.steps": 3, "model.enc_size": 8, "model.dec_size": 8, "model.latent_dim": 4},
    "vpn": {"model.channels": 2, "model.encoder_blocks": 1, "model.lstm_channels": 2, "model.decoder_blocks": 1,
            "data.size": 8, "data.digit_size": 4, "data.frames": 3, "data.context_frames": 1, "data.test_size": 8,
            "data.valid_size": 4, "data.train_size": 16, "train.eval_batches": 1, "train.num_samples": 2},
}


@pytest.mark.parametrize("name", sorted(TINY_OVERRIDES))
def test_new_family_entries_run_end_to_end_with_their_own_metric(tmp_path: Path, data_dir: Path, name: str) -> None:
    """The DRAW bound and the VPN's nats per frame come out of ``reproduce`` as the entry's key, equal to
    the metric run directly on the final checkpoint."""
    over = {**TINY_OVERRIDES[name], "train.batch_size": 4, "train.sample_every": 10**6,
            "train.checkpoint_every": 10**6, "train.eval_every": 10**6, "train.tensorboard": False}
    small = {"subset": 8} if name == "draw" else {}
    row = reproduce(name, budget_minutes=0.02, out_dir=tmp_path / "runs", results_file=None, curve_points=1,
                    data_dir=data_dir, overrides=over, options=small)
    e = ENTRIES[name]
    again = api.evaluate(row["run_dir"], [e.metric], options={**e.options, **small}, data_dir=data_dir,
                         write=False)[e.metric]
    assert row["value"] == pytest.approx(again[e.key]) and math.isfinite(row["value"])
    assert row["paper"] == e.paper and row["stopped_by"] == "budget"


def test_cli_errors_and_render(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reproduce", "no-such-paper", "--results", str(tmp_path / "r.jsonl")]) == 2
    assert "unknown reproduction 'no-such-paper'" in capsys.readouterr().err
    assert not (tmp_path / "r.jsonl").exists()
    with pytest.raises(ReproduceError, match="budget"):
        reproduce("tiny", budget_minutes=0, entries={"tiny": TINY}, results_file=None)
    md = tmp_path / "B.md"
    md.write_text(f"# x\n{BEGIN}\nold\n{END}\ntail\n")
    row = {"entry": "e", "config": "c", "metric": "nll", "key": "nll_nats", "value": 90.0, "stderr": 0.5,
           "higher_is_better": False, "paper": 88.0, "time_to": {"1%": None, "5%": 60.0, "10%": 60.0},
           "epochs": 1.0, "steps": 10, "batch_size": 5, "train_s": 60.0, "eval_s": 2.0, "stopped_by": "budget",
           "hardware": "cpu", "threads": 1, "date": "d", "curve": [{"train_s": 60.0, "value": 90.0}],
           "command": "genzoo reproduce e", "citation": "cite", "notes": ""}
    (tmp_path / "r.jsonl").write_text(json.dumps(row) + "\n")
    assert main(["reproduce", "--render", "--results", str(tmp_path / "r.jsonl"), "--markdown", str(md)]) == 0
    text = md.read_text()
    assert "old" not in text and "| e (`c`)" in text and "90.00 ± 0.50" in text and text.endswith("tail\n")
    assert "— / 1.0 min / 1.0 min (at the end 2.3% worse than the paper)" in text  # (90 - 88) / 88
    row["options"], row["curve_options"] = {"n_samples": 100}, {"n_samples": 10}
    assert "Curve points before the last: n_samples=10 (not the final protocol)." in render_markdown([row])
    assert update_markdown(tmp_path / "r.jsonl", []) is False  # no markers: untouched


def test_continued_run_extends_the_curve_and_equals_one_long_run(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """`--continue RUN_DIR`: the run resumes from its last checkpoint, ends where one uninterrupted run of
    the same length ends (same weights, same number), and its row carries the first segment's curve on."""
    from safetensors.torch import load_file

    from genzoo.train.checkpoint import latest_weights

    fixed = replace(TINY, overrides={**TINY.overrides, "train.steps": 6})
    table = {"tiny": fixed}
    results = tmp_path / "results.jsonl"
    first = reproduce("tiny", budget_minutes=5, out_dir=tmp_path / "a", results_file=results, curve_points=1,
                      entries=table)
    assert first["stopped_by"] == "schedule" and first["steps"] == 6
    # a run that ended at its schedule needs a longer one; another entry's run, an unrecorded run: refused
    with pytest.raises(ReproduceError, match="longer schedule"):
        reproduce("tiny", 5, results_file=results, entries=table, continue_run=first["run_dir"])
    with pytest.raises(ReproduceError, match="not 'other'"):
        reproduce("other", 5, results_file=results, entries={"other": fixed}, continue_run=first["run_dir"])
    with pytest.raises(ReproduceError, match="no row of"):
        reproduce("tiny", 5, results_file=results, entries=table, continue_run=tmp_path)
    assert len(read_results(results)) == 1
    spelled_otherwise = Path(first["run_dir"]).parent / ".." / Path(first["run_dir"]).parent.name / Path(
        first["run_dir"]).name
    second = reproduce("tiny", budget_minutes=5, results_file=results, curve_points=1, entries=table,
                       overrides={"train.steps": 11}, continue_run=spelled_otherwise)
    once = reproduce("tiny", budget_minutes=10, out_dir=tmp_path / "b", results_file=None, curve_points=1,
                     entries=table, overrides={"train.steps": 11})
    assert second["run_dir"] == first["run_dir"] and second["steps"] == once["steps"] == 11
    a, b = load_file(latest_weights(second["run_dir"])), load_file(latest_weights(once["run_dir"]))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert second["value"] == once["value"]
    # the row: both segments, the first curve carried on, times counted from the start of the first
    assert second["curve"][0] == first["curve"][-1] and len(second["curve"]) == 2
    assert second["train_s"] >= first["train_s"] and second["budget_minutes"] == 10
    assert [s["steps"] for s in second["segments"]] == [6, 11] and second["overrides"]["train.steps"] == 11
    md = render_markdown(read_results(results))
    assert md.count("tiny (`vae-digits`)") == 1 and "Continued run:" in md and "(2 segments" in md
    # the CLI names the run; a rejected continuation changes nothing on disk
    before, _ = results.read_text(), capsys.readouterr()
    assert main(["reproduce", "gmmn", "--continue", str(tmp_path / "nope"), "--results", str(results)]) == 2
    assert "no row of" in capsys.readouterr().err and results.read_text() == before


def test_a_diverged_run_is_recorded_on_its_last_good_checkpoint(tmp_path: Path) -> None:
    """Training stopped by the engine's divergence check still gives a row: the kept checkpoint's number,
    ``stopped_by: diverged`` and the message; without any checkpoint the error stands and nothing is written."""
    from genzoo.core import TrainingDiverged

    def diverge_at(step: int):  # an engine hook standing in for the flag monitor
        def hook(trainer: object, done: int) -> None:
            if done == step:
                raise TrainingDiverged(f"test: diverged at step {step}")
        return hook

    def slow_at(step: int):  # training time spent after the kept checkpoint
        def hook(trainer: object, done: int) -> None:
            if done == step:
                time.sleep(0.5)
        return hook

    table = {"tiny": replace(TINY, overrides={**TINY.overrides, "train.checkpoint_every": 3})}
    results = tmp_path / "results.jsonl"
    row = reproduce("tiny", budget_minutes=5, out_dir=tmp_path / "a", results_file=results, curve_points=1,
                    entries=table, hooks=[slow_at(4), diverge_at(5)])
    assert row["stopped_by"] == "diverged" and row["steps"] == 3 and "step 5" in row["diverged"]
    # the row's time is the kept checkpoint's (step 3), not the time of the divergence after the slow step
    assert row["diverged_at_train_s"] - row["train_s"] >= 0.4 and row["curve"][-1]["train_s"] == row["train_s"]
    again = api.evaluate(row["run_dir"], ["nll"], options=TINY.options, write=False)["nll"]
    assert row["value"] == pytest.approx(again["nll_nats"])
    assert "stopped on divergence" in render_markdown(read_results(results))
    with pytest.raises(TrainingDiverged):
        reproduce("tiny", budget_minutes=5, out_dir=tmp_path / "b", results_file=results, curve_points=1,
                  entries=table, hooks=[diverge_at(2)])
    assert len(read_results(results)) == 1


def test_points_of_an_earlier_curve_protocol_are_tagged_and_not_counted() -> None:
    """A continued row whose entry changed its cheap curve protocol keeps the old points, tagged with their
    options; they are said apart in the table and never count for the time to the paper's number."""
    from genzoo.reproduce import _carried_points, _time_to

    old = {"curve_options": {"subset": 20}, "curve": [{"train_s": 60.0, "step": 5, "epoch": 1.0, "value": 30.1},
                                                      {"train_s": 120.0, "step": 9, "epoch": 2.0, "value": 29.0}]}
    same = _carried_points(old, replace(TINY, curve_options={"subset": 20}))
    assert same == old["curve"] and _time_to(TINY, same)["1%"] == 60.0  # 30.1 is within 1 % of 30
    tagged = _carried_points(old, TINY)  # TINY's curve options differ
    assert [p["options"] for p in tagged] == [{"subset": 20}] * 2
    assert [{k: v for k, v in p.items() if k != "options"} for p in tagged] == old["curve"]
    later = {"train_s": 300.0, "step": 20, "epoch": 4.0, "value": 30.2}
    assert _time_to(TINY, [*tagged, later]) == {"1%": 300.0, "5%": 300.0, "10%": 300.0}
    assert _carried_points(None, TINY) == []
    row = {"entry": "tiny", "config": "vae-digits", "metric": "nll", "key": "nll_nats", "value": 30.2,
           "stderr": 0.1, "paper": 30.0, "higher_is_better": False, "time_to": {}, "epochs": 4.0, "steps": 20,
           "batch_size": 64, "train_s": 300.0, "eval_s": 1.0, "stopped_by": "budget", "hardware": "cpu",
           "threads": 1, "date": "today", "command": "genzoo reproduce tiny", "citation": "made up",
           "curve": [*tagged, later], "options": TINY.options, "curve_options": TINY.curve_options}
    assert "The first 2 points (to 2.0 min) were measured with subset=20" in render_markdown([row])


def test_the_table_headlines_each_entrys_longest_run_in_entry_order() -> None:
    """A later short run does not replace an entry's long one in the table: it is listed among the other runs;
    the table follows the entry table's order, whatever order the runs were recorded in."""
    def row(entry: str, value: float, minutes: float, run: str) -> dict[str, Any]:
        return {"entry": entry, "config": f"{entry}-cfg", "metric": "nll", "key": "nll_nats", "value": value,
                "stderr": 0.1, "paper": 88.0, "higher_is_better": False, "time_to": {}, "epochs": 1.0, "steps": 10,
                "batch_size": 20, "train_s": 60.0 * minutes, "eval_s": 1.0, "stopped_by": "budget", "hardware": "cpu",
                "threads": 1, "date": run, "command": f"genzoo reproduce {entry}", "citation": "c", "run_dir": run,
                "curve": [{"train_s": 60.0 * minutes, "step": 10, "epoch": 1.0, "value": value}]}

    variant = {**row("vae", 94.0, 6, "r4"), "overrides": {"train.lr": 0.01, "model.k": 2}}
    md = render_markdown([row("nade", 90.0, 30, "r1"), row("vae", 89.5, 100, "r2"), row("vae", 95.0, 5, "r3"), variant])
    table, others = md.split("Other runs")
    assert table.index("| vae (`vae-cfg`)") < table.index("| nade (`nade-cfg`)")  # ENTRIES lists vae first
    assert "89.50 ± 0.10" in table and "95.00" not in table and table.count("- **vae**") == 1
    assert "| vae | — | 95.00 ± 0.10 | 88.00 | 5.0 min | budget | — | r3 |" in others
    assert "| vae | `model.k=2`, `train.lr=0.01` | 94.00 ± 0.10 |" in others  # a variant says how it differs


@pytest.fixture
def random_mnist_classifier(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An untrained ``classifier:mnist`` in a private cache (the metric's wiring does not need a good one)."""
    from genzoo.metrics.classifier import ReferenceClassifier, _weights_bytes, classifier_path
    from genzoo.metrics.features import clear_loaded

    monkeypatch.setenv("GENZOO_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)
    path = classifier_path("mnist")
    path.parent.mkdir(parents=True)
    path.write_bytes(_weights_bytes(ReferenceClassifier((1, 28, 28), 10, width=4, feature_dim=8), {}))
    clear_loaded()
    yield
    clear_loaded()


@pytest.mark.parametrize("name", ["gan-int-cls", "gawwn"])
def test_text_to_image_entries_score_caption_alignment(tmp_path: Path, data_dir: Path, name: str,
                                                       random_mnist_classifier: None) -> None:
    """The text-to-image entries record the caption-alignment headline of their final checkpoint: the
    classifier's verdict on each sample's crop at its own test caption's box."""
    from genzoo.data import load_dataset
    from genzoo.metrics.captions import crop_to_mnist
    from genzoo.metrics.classifier import load_reference_classifier

    over = {"model.latent_dim": 8, "model.embed_dim": 32, "model.text_dim": 16, "model.g_features": 8,
            "model.d_features": 8, "model.encoder_steps": 0, "data.size": 16, "data.count": 64,
            "data.eval_count": 24, "train.batch_size": 16, "train.sample_every": 10**6,
            "train.checkpoint_every": 10**6, "train.eval_every": 10**6, "train.tensorboard": False,
            "train.num_samples": 4}
    row = reproduce(name, budget_minutes=0.02, out_dir=tmp_path / "runs", results_file=None, curve_points=1,
                    data_dir=data_dir, overrides=over, options={"n_samples": 24})
    e = ENTRIES[name]
    assert e.metric == "caption-alignment" and row["stopped_by"] == "budget" and row["paper"] is None
    again = api.evaluate(row["run_dir"], [e.metric], options={"n_samples": 24}, data_dir=data_dir,
                         write=False)[e.metric]
    assert row["value"] == pytest.approx(again[e.key])
    test = load_dataset("captioned-mnist", "test", data_dir, size=16, count=64, eval_count=24)
    samples = api.sample(row["run_dir"], 24, seed=0)  # the default grid: the test captions (and boxes) in order
    clf = load_reference_classifier("mnist")
    with torch.no_grad():
        found = clf(crop_to_mnist(samples, test.extra["box"][:, 0])).argmax(1) == test.labels
    assert row["value"] == pytest.approx(float(found.double().mean()))
