"""Study core: config validation, balanced and reproducible trials, the SQLite store, results and CSV."""

from __future__ import annotations

import csv
import io
import math
import threading
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.stats import norm

from genzoo.web import StudyError
from genzoo.web.results import answers_csv, format_results, study_results, wilson_interval
from genzoo.web.store import RequestError, open_study, trials_of
from genzoo.web.study import NOISE, REAL, create_study, load_config, make_trials, parse_config

from .conftest import write_study_config


def _key(study) -> dict[str, str]:
    """image id -> source, from the pools."""
    return {i: src for (src, _), ids in study.pools.items() for i in ids}


# ----- config ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"design": "3afc"}, "design = '3afc'"),
        ({"trials": 0}, "trials = 0"),
        ({"pool": 3}, "pool = 3"),
        ({"colour": 1}, "unknown field(s) colour"),
        ({"models": [{"name": "real", "samples": "fake.npz"}]}, "models[0]: name = 'real'"),
        ({"models": [{"name": "m", "samples": "missing.npz"}]}, "does not exist"),
        ({"models": [{"name": "m", "samples": "fake.npz", "run": "x"}]}, "exactly one of run"),
        ({"attention_checks": 9}, "attention_checks = 9"),
        ({"name": "../x"}, "name = '../x'"),
    ],
)
def test_bad_config_is_one_line_naming_the_field_and_writes_nothing(tmp_path: Path, fields, needle) -> None:
    cfg = write_study_config(tmp_path, **fields)
    with pytest.raises(StudyError) as e:
        create_study(cfg, tmp_path / "out")
    assert needle in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "out").exists()


def test_existing_study_folder_is_never_overwritten(make_study) -> None:
    path = make_study()
    before = sorted(p.name for p in (path / "images").iterdir())
    with pytest.raises(StudyError, match="already exists"):
        create_study(path.parent.parent / "cfg-t" / "study.yaml", path)
    assert sorted(p.name for p in (path / "images").iterdir()) == before


def test_stored_images_are_the_sources_and_names_reveal_nothing(make_study, tmp_path: Path) -> None:
    st = open_study(make_study())
    key = _key(st)
    files = {p.stem for p in st.image_dir.iterdir()}
    assert files == set(key)  # every stored file is in the key and vice versa
    # the model's stored images are its .npz images, in order, at 8 bits
    fake = np.load(tmp_path / "cfg-t" / "fake.npz")["images"]
    for i, image_id in enumerate(st.pools[("arr", "main")][:5]):
        stored = np.asarray(Image.open(st.image_dir / f"{image_id}.png"))
        assert np.array_equal(stored, (fake[i, 0] * 255 + 0.5).astype(np.uint8))
    # real images are digits of the test split, with the same size and mode as generated ones
    sizes = {Image.open(st.image_dir / f"{i}.png").size for i in files}
    modes = {Image.open(st.image_dir / f"{i}.png").mode for i in files}
    assert sizes == {(8, 8)} and modes == {"L"}


def test_same_config_gives_the_same_images(make_study, tmp_path: Path) -> None:
    a = open_study(make_study("a"))
    b = open_study(make_study("b"))

    def pixels(st, source):
        return [np.asarray(Image.open(st.image_dir / f"{i}.png")) for i in st.pools[(source, "main")]]

    for source in (REAL, "arr"):
        assert all(np.array_equal(x, y) for x, y in zip(pixels(a, source), pixels(b, source)))
    assert set(a.image_ids).isdisjoint(b.image_ids)  # ids are salted per study


# ----- trials ---------------------------------------------------------------------------------------------
def _pools(sources: dict[str, int], checks: int = 2, practice: int = 2) -> dict[tuple[str, str], list[str]]:
    pools = {(s, "main"): [f"{s}-{i}" for i in range(n)] for s, n in sources.items()}
    pools[(NOISE, "check")] = [f"noise-{i}" for i in range(checks)]
    pools[(REAL, "check")] = [f"realcheck-{i}" for i in range(checks)]
    pools[(REAL, "practice")] = [f"realpractice-{i}" for i in range(practice)]
    first = next(s for s in sources if s != REAL)
    pools[(first, "practice")] = [f"fp-{i}" for i in range(practice)]
    return pools


def _cfg(tmp_path: Path, **fields):
    path = write_study_config(tmp_path, **fields)
    return load_config(path)


def test_single_design_trials_are_balanced_checked_and_reproducible(tmp_path: Path) -> None:
    models = [{"name": "m1", "samples": "fake.npz"}, {"name": "m2", "samples": "fake.npz"},
              {"name": "m3", "samples": "fake.npz"}]
    cfg = _cfg(tmp_path, models=models, trials=11, pool=6, practice=2, attention_checks=3)
    pools = _pools({REAL: 6, "m1": 6, "m2": 6, "m3": 6}, checks=3, practice=1)
    per_model_totals: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    for p in range(6):
        trials = make_trials(cfg, pools, p)
        assert trials == make_trials(cfg, pools, p)  # a pure function of (config, pools, participant)
        kinds = [t.kind for t in trials]
        assert kinds[:2] == ["practice", "practice"] and kinds.count("check") == 3
        assert kinds[2] == "main"  # a check never comes first
        main = [t for t in trials if t.kind == "main"]
        assert len(main) == 11
        assert sum(t.truth == "real" for t in main) == 5  # trials // 2 real
        counts = Counter(t.model for t in main if t.truth == "fake")
        assert sorted(counts.values()) == [2, 2, 2]  # 6 generated split evenly
        per_model_totals.update(counts)
        images = [i for t in main for i in t.images]
        assert len(images) == len(set(images))  # nobody sees an image twice
        seen.update(images)
        for t in trials:
            if t.kind == "check":
                assert t.images[0].startswith("noise-") and t.truth == "fake"
        assert [i for t in trials if t.kind == "main" and t.truth == "real" for i in t.images] == \
            [i for t in main if t.truth == "real" for i in t.images]
    # over 6 participants every real image was shown 5 times: the pool is covered evenly
    assert {seen[f"real-{i}"] for i in range(6)} == {5}
    assert {seen[f"m1-{i}"] for i in range(6)} == {2}
    assert make_trials(cfg, pools, 0) != make_trials(cfg, pools, 1)


def test_2afc_pairs_one_real_with_one_generated_and_balances_sides(tmp_path: Path) -> None:
    models = [{"name": "m1", "samples": "fake.npz"}, {"name": "m2", "samples": "fake.npz"}]
    cfg = _cfg(tmp_path, models=models, design="2afc", trials=10, pool=10, practice=2, attention_checks=2)
    pools = _pools({REAL: 10, "m1": 10, "m2": 10})
    for p in range(4):
        trials = make_trials(cfg, pools, p)
        main = [t for t in trials if t.kind == "main"]
        sides = Counter(t.truth for t in main)
        assert sides["left"] == sides["right"] == 5
        for t in trials:
            real_side = 0 if t.truth == "left" else 1
            assert "real" in t.images[real_side] and "real" not in t.images[1 - real_side]
            if t.kind == "main":
                assert t.images[1 - real_side].startswith(t.model + "-")
        assert Counter(t.model for t in main) == {"m1": 5, "m2": 5}


# ----- Wilson ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("k", "n"), [(0, 10), (3, 10), (10, 10), (37, 120), (1, 1)])
def test_wilson_endpoints_solve_the_score_equation(k: int, n: int) -> None:
    lo, hi = wilson_interval(k, n, 0.95)
    z = norm.ppf(0.975)
    p = k / n
    assert 0 <= lo <= p <= hi <= 1
    for end in (lo, hi):  # the interval is {q : |p - q| <= z sqrt(q (1 - q) / n)}
        assert (p - end) ** 2 == pytest.approx(z * z * end * (1 - end) / n, abs=1e-12)
    assert wilson_interval(0, 10)[1] == pytest.approx(z * z / (10 + z * z))


def test_wilson_narrows_with_more_data() -> None:
    w = [(lambda a: a[1] - a[0])(wilson_interval(n // 2, n)) for n in (10, 100, 1000)]
    assert w[0] > w[1] > w[2]
    assert w[2] == pytest.approx(2 * norm.ppf(0.975) * math.sqrt(0.25 / 1000), rel=1e-2)


# ----- store and results ------------------------------------------------------------------------------------
def _answer_all(st, con, token: str, policy) -> None:
    number, total = st.participant(con, token)
    for t in trials_of(st, number):
        st.answer(con, token, t.index, policy(t), 400.0)


def test_results_equal_a_direct_count_and_exclude_failed_checks(make_study) -> None:
    path = make_study(trials=10, pool=20, practice=2, attention_checks=2)
    st = open_study(path)
    con = st.connect()
    rng = np.random.default_rng(1)
    tokens = [st.join(con) for _ in range(4)]

    def random_policy(t):
        return "real" if rng.random() < 0.5 else "fake"

    def fails_checks(t):
        return "real" if t.kind == "check" else random_policy(t)

    for i, tok in enumerate(tokens):
        _answer_all(st, con, tok, fails_checks if i == 3 else lambda t: "fake" if t.kind == "check" else
                    random_policy(t))
    res = study_results(path)
    # direct count from the stored trials and answers of the included participants
    fooled = n = real_ok = real_n = 0
    rows = con.execute("SELECT t.participant, t.kind, t.model, t.truth, a.response FROM trials t "
                       "JOIN answers a USING (participant, idx)").fetchall()
    for participant, kind, _model, truth, response in rows:
        if kind != "main" or participant == 3:
            continue
        if truth == "real":
            real_n, real_ok = real_n + 1, real_ok + (response == "real")
        else:
            n, fooled = n + 1, fooled + (response == "real")
    [row] = res["models"]
    assert (row["n"], row["judged_real"]) == (n, fooled) == (15, row["judged_real"])
    assert row["percent_real"] == pytest.approx(100 * fooled / n)
    lo, hi = wilson_interval(fooled, n)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((100 * lo, 100 * hi))
    assert (res["real"]["n"], res["real"]["judged_real"]) == (real_n, real_ok)
    assert res["participants"] == {"joined": 4, "completed": 4, "excluded": 1, "included": 3}
    assert res["attention"]["failures"] == 2 and res["attention"]["participants_excluded"] == 1
    pp = {p["participant"]: p for p in res["per_participant"]}
    assert pp[3]["excluded"] and not pp[0]["excluded"]
    assert pp[0]["accuracy"] == pytest.approx(
        sum(r[4] == r[3] for r in rows if r[0] == 0 and r[1] == "main") / 10)
    text = format_results(res)
    assert "arr" in text and "excluded" in text
    table = list(csv.DictReader(io.StringIO(answers_csv(path))))
    assert len(table) == 4 * 14
    assert {r["excluded"] for r in table if r["participant"] == "3"} == {"1"}
    assert sum(r["judged_real"] == "1" for r in table if r["kind"] == "main" and r["participant"] != "3") == fooled


def test_2afc_judged_real_counts_the_generated_side_chosen(make_study) -> None:
    path = make_study(design="2afc", trials=6, pool=10, practice=0, attention_checks=0)
    st = open_study(path)
    con = st.connect()
    tok = st.join(con)
    _answer_all(st, con, tok, lambda t: "left")  # always left: fooled exactly when the real image was right
    trials = trials_of(st, 0)
    res = study_results(path)
    assert res["models"][0]["judged_real"] == sum(t.truth == "right" for t in trials) == 3
    assert res["real"] is None


def test_refused_answers_write_nothing(make_study) -> None:
    st = open_study(make_study())
    con = st.connect()
    tok = st.join(con)
    st.answer(con, tok, 0, "real", 100)
    cases = [
        (1, "maybe", 10, 422), ("1", "real", 10, 422), (True, "real", 10, 422), (1, "real", -5, 422),
        (0, "real", 10, 409), (5, "real", 10, 409), (12, "real", 10, 404), (-1, "real", 10, 404),
    ]
    for idx, response, rt, status in cases:
        with pytest.raises(RequestError) as e:
            st.answer(con, tok, idx, response, rt)
        assert e.value.status == status, (idx, response, rt)
    with pytest.raises(RequestError) as e:
        st.answer(con, "nobody-nobody-nobody", 1, "real", 10)
    assert e.value.status == 404
    assert con.execute("SELECT COUNT(*) FROM answers").fetchone()[0] == 1
    st.set_closed(con, True)
    with pytest.raises(RequestError) as e:
        st.answer(con, tok, 1, "real", 10)
    assert e.value.status == 403
    with pytest.raises(RequestError):
        st.join(con)
    assert con.execute("SELECT COUNT(*) FROM answers").fetchone()[0] == 1
    assert con.execute("SELECT COUNT(*) FROM participants").fetchone()[0] == 1


def test_concurrent_writers_lose_and_duplicate_nothing(make_study) -> None:
    path = make_study(trials=10, pool=20)
    st = open_study(path)
    errors: list[BaseException] = []

    def participant() -> None:
        con = st.connect()  # each thread its own connection, as the server does
        try:
            tok = st.join(con)
            number, total = st.participant(con, tok)
            for i in range(total):
                st.answer(con, tok, i, "real", 1.0)
                with pytest.raises(RequestError):  # a double submit of the same trial is refused
                    st.answer(con, tok, i, "fake", 1.0)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)
        finally:
            con.close()

    threads = [threading.Thread(target=participant) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    con = open_study(path).connect()  # a fresh process-level view of the file
    counts = con.execute(
        "SELECT participant, COUNT(*), MIN(idx), MAX(idx) FROM answers GROUP BY participant").fetchall()
    assert sorted(c[0] for c in counts) == list(range(6))
    assert all(c[1:] == (14, 0, 13) for c in counts)
    assert con.execute("SELECT COUNT(*) FROM answers WHERE response != 'real'").fetchone()[0] == 0
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_study_from_a_run_samples_with_the_api(tiny_runs, tmp_path: Path) -> None:
    import torch

    from genzoo.api import sample

    cfg = write_study_config(tmp_path, models=[{"name": "dcgan", "run": str(tiny_runs["dcgan"])},
                                               {"name": "cgan3", "run": str(tiny_runs["cgan"]), "label": 3}],
                             trials=4, pool=4, practice=0, attention_checks=0, seed=5)
    st = open_study(create_study(cfg, tmp_path / "s"))
    expected = sample(tiny_runs["dcgan"], 4, seed=5)
    for i, image_id in enumerate(st.pools[("dcgan", "main")]):
        stored = np.asarray(Image.open(st.image_dir / f"{image_id}.png"))
        assert np.array_equal(stored, (expected[i, 0].clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8))
    assert len(st.pools[("cgan3", "main")]) == 4
    bad = write_study_config(tmp_path / "bad", models=[{"name": "d", "run": str(tiny_runs["dcgan"]), "label": 3}],
                             trials=4, pool=4)
    with pytest.raises(StudyError, match="not conditional"):
        create_study(bad, tmp_path / "s2")
    assert not (tmp_path / "s2").exists()
    del torch


def test_stored_config_reads_back_without_the_sources(make_study, tmp_path: Path) -> None:
    path = make_study()
    (tmp_path / "cfg-t" / "fake.npz").unlink()  # the study keeps its own images
    st = open_study(path)
    assert st.config == parse_config(st.config.to_dict(), check_paths=False)
    assert len(make_trials(st.config, st.pools, 0)) == 12
