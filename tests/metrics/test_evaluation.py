"""The evaluation runner: a protocol that cannot be met fails before any work; small samples are noted;
results are MetricResult records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import genzoo
from genzoo.core import MetricResult, ProtocolError


def _images(n: int) -> torch.Tensor:
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(0))


def test_too_few_given_samples_fail_unless_the_protocol_is_lowered() -> None:
    with pytest.raises(ProtocolError, match=r"10000 samples requested but only 64 were given.*n_samples=64"):
        genzoo.evaluate(data="digits", samples=_images(64), metrics=["fid"], options={"extractor": "pixels"})
    out = genzoo.evaluate(
        data="digits", samples=_images(64), metrics=["fid", "density-coverage"],
        options={"extractor": "pixels", "n_samples": 64},
    )
    fid = out["fid"]
    assert isinstance(fid, MetricResult) and fid.headline == "fid" and fid.value == fid["fid"] > 0
    assert fid["protocol"]["n_samples"] == 64 and fid["extractor"] == "pixels"
    assert any(n.startswith("small sample: 64 images") for n in fid.notes)
    assert 0 <= out["density-coverage"]["coverage"] <= 1


def test_a_rejected_evaluation_writes_nothing(tmp_path: Path) -> None:
    run = tmp_path / "r"
    genzoo.train("vae", "digits", steps=2, run_dir=run, overrides={"train.progress": False})
    before = (run / "eval.jsonl").read_text() if (run / "eval.jsonl").exists() else ""
    with pytest.raises(ProtocolError):
        genzoo.evaluate(run, ["nll", "fid"], samples=_images(10), options={"fid.extractor": "pixels",
                                                                            "importance_samples": 2})
    after = (run / "eval.jsonl").read_text() if (run / "eval.jsonl").exists() else ""
    assert after == before
    out = genzoo.evaluate(run, ["nll"], options={"importance_samples": 2, "subset": 20})
    record = json.loads((run / "eval.jsonl").read_text().splitlines()[-1])
    assert MetricResult.from_dict(record).scores == out["nll"].scores
    assert record["errors"]["nll_nats"] == out["nll"].error > 0
    assert any("subset: 20 of the 360" in n for n in record["notes"])


def test_real_baseline_smaller_than_asked_is_noted() -> None:
    out = genzoo.evaluate(data="digits", real_baseline=True, metrics=["fid"],
                          options={"extractor": "pixels", "n_samples": 500})
    assert out["fid"]["n_samples"] == 360 and out["fid"]["source"] == "real:test"
    assert any("fewer than the 500 asked" in n for n in out["fid"].notes)


def test_old_flat_records_still_read() -> None:
    old = {"metric": "fid", "real_baseline": False, "time": 1.7e9, "fid": 12.5, "n_samples": 100,
           "source": "samples", "protocol": {"k": 1}}
    r = MetricResult.from_dict(old)
    assert r.headline == "fid" and r.value == 12.5 and r.scores == {"fid": 12.5}
    assert r.protocol == {"k": 1, "n_samples": 100, "source": "samples"} and r.details["time"] == 1.7e9
    old = {"metric": "ms-ssim", "time": 1.7e9, "n_samples": 360, "scales": 1, "window_sigma": 0.95,
           "ms_ssim": 0.18, "ms_ssim_stderr": 0.007}
    assert MetricResult.from_dict(old).headline == "ms_ssim"  # the score named like the metric
    new = MetricResult("kid", {"kid": 0.1}, errors={"kid": 0.01}, protocol={"n": 3}, details={"x": 2.0})
    assert MetricResult.from_dict(json.loads(json.dumps(new.to_dict()))) == new


def test_a_missing_classifier_is_named_up_front_with_its_training_time(tmp_path: Path, monkeypatch) -> None:
    from genzoo.metrics import features

    monkeypatch.setenv("GENZOO_CACHE", str(tmp_path))
    monkeypatch.setattr(features, "_LOADED", {})
    with pytest.raises(ValueError, match=r"not trained yet.*genzoo classifier digits.*about 40 seconds"):
        genzoo.evaluate(data="digits", samples=_images(64), metrics=["inception-score"],
                        options={"n_samples": 64})
    # ms-ssim needs the classifier only to group samples by class
    out = genzoo.evaluate(data="digits", samples=_images(64), metrics=["ms-ssim"],
                          options={"n_samples": 64, "n_pairs": 20})
    assert 0 < out["ms-ssim"].value < 1


def test_a_metric_returning_a_plain_dict_is_read_as_a_result() -> None:
    from genzoo.evaluation import EvalContext, run_metric
    from genzoo.registry import METRICS

    def legacy(ctx: EvalContext, n_samples: int = 10) -> dict:
        return {"score": 0.5, "protocol": {"n_samples": len(ctx.samples(n_samples))}}

    METRICS.add("test-legacy-dict", legacy)
    try:
        ctx = EvalContext(None, "digits", provided_samples=_images(4))
        res = run_metric("test-legacy-dict", ctx, {"n_samples": 4})
    finally:
        METRICS.entries.pop("test-legacy-dict")
        METRICS.descriptions.pop("test-legacy-dict")
    assert res.metric == "test-legacy-dict" and res.value == 0.5 and res.headline == "score"
    assert any(n.startswith("small sample: 4 images (default 10)") for n in res.notes)
    assert res.details["seconds"] >= 0
