"""A study's SQLite database: the image key, participants, their trials and every answer.

WAL journal mode (readers never block the writer), ``synchronous=FULL`` (a committed answer survives a
crash of the process or the machine), one short ``BEGIN IMMEDIATE`` transaction per join or answer, so
several server threads (or processes) can write safely. An answer is committed before the server
replies, so a closed tab, a killed server or a restart loses nothing that was acknowledged.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genzoo.web import StudyError
from genzoo.web.study import RESPONSES, StudyConfig, Trial, make_trials, parse_config

DB_NAME = "study.sqlite"

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE images (
    id TEXT PRIMARY KEY, source TEXT NOT NULL, role TEXT NOT NULL, pool_index INTEGER NOT NULL);
CREATE TABLE participants (
    number INTEGER PRIMARY KEY, token TEXT NOT NULL UNIQUE, created REAL NOT NULL, n_trials INTEGER NOT NULL);
CREATE TABLE trials (
    participant INTEGER NOT NULL REFERENCES participants(number), idx INTEGER NOT NULL,
    kind TEXT NOT NULL, model TEXT, images TEXT NOT NULL, truth TEXT NOT NULL,
    PRIMARY KEY (participant, idx));
CREATE TABLE answers (
    participant INTEGER NOT NULL, idx INTEGER NOT NULL, response TEXT NOT NULL, rt_ms REAL,
    answered_at REAL NOT NULL, PRIMARY KEY (participant, idx),
    FOREIGN KEY (participant, idx) REFERENCES trials(participant, idx));
"""


class RequestError(StudyError):
    """A request that must be refused; ``status`` is the HTTP status (4xx) the server answers with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def connect(path: str | Path) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL, FULL sync, foreign keys on."""
    con = sqlite3.connect(str(path), timeout=30.0, isolation_level=None, check_same_thread=False)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute("PRAGMA foreign_keys=ON")
    con.execute("PRAGMA busy_timeout=30000")
    return con


@contextmanager
def write_transaction(con: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back on any exception)."""
    con.execute("BEGIN IMMEDIATE")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def initialise(path: Path, cfg: StudyConfig, images: list[tuple[str, str, str, int]]) -> None:
    """Create the database of a new study with its image key."""
    con = connect(path)
    try:
        con.executescript(_SCHEMA)  # a fresh file in the study's temporary folder
        with write_transaction(con):
            con.executemany("INSERT INTO images VALUES (?, ?, ?, ?)", images)
            con.executemany("INSERT INTO meta VALUES (?, ?)", [
                ("config", json.dumps(cfg.to_dict())), ("closed", "0"), ("created", str(time.time()))])
    finally:
        con.close()


@dataclass
class Study:
    """An open study folder: its config, image pools, and database path."""

    root: Path
    config: StudyConfig
    pools: dict[tuple[str, str], list[str]]
    image_ids: frozenset[str]

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def db_path(self) -> Path:
        return self.root / DB_NAME

    @property
    def image_dir(self) -> Path:
        return self.root / "images"

    def connect(self) -> sqlite3.Connection:
        return connect(self.db_path)

    # ----- reads -----------------------------------------------------------------------------------
    def is_closed(self, con: sqlite3.Connection) -> bool:
        return con.execute("SELECT value FROM meta WHERE key='closed'").fetchone()[0] == "1"

    def participant(self, con: sqlite3.Connection, token: str) -> tuple[int, int]:
        """``(number, n_trials)`` of the participant with ``token``; unknown -> 404."""
        row = con.execute("SELECT number, n_trials FROM participants WHERE token=?", (token,)).fetchone()
        if row is None:
            raise RequestError(404, "unknown participant")
        return int(row[0]), int(row[1])

    def progress(self, con: sqlite3.Connection, number: int) -> int:
        """Number of answered trials (answers are given in order, so also the next trial's index)."""
        return int(con.execute("SELECT COUNT(*) FROM answers WHERE participant=?", (number,)).fetchone()[0])

    def trial(self, con: sqlite3.Connection, number: int, idx: int) -> tuple[str, list[str], str]:
        row = con.execute("SELECT kind, images, truth FROM trials WHERE participant=? AND idx=?",
                          (number, idx)).fetchone()
        return row[0], json.loads(row[1]), row[2]

    # ----- writes ----------------------------------------------------------------------------------
    def join(self, con: sqlite3.Connection) -> str:
        """Register a new participant (the next number) with its trials; returns the secret token."""
        token = secrets.token_urlsafe(18)
        with write_transaction(con):
            if self.is_closed(con):
                raise RequestError(403, f"study {self.name!r} is closed")
            number = int(con.execute("SELECT COUNT(*) FROM participants").fetchone()[0])
            trials = make_trials(self.config, self.pools, number)
            con.execute("INSERT INTO participants VALUES (?, ?, ?, ?)", (number, token, time.time(), len(trials)))
            con.executemany("INSERT INTO trials VALUES (?, ?, ?, ?, ?, ?)", [
                (number, t.index, t.kind, t.model, json.dumps(t.images), t.truth) for t in trials])
        return token

    def answer(self, con: sqlite3.Connection, token: str, idx: Any, response: Any, rt_ms: Any) -> tuple[int, str]:
        """Validate and store one answer (in one transaction); returns ``(participant, truth)``.

        Refusals (nothing written): malformed index/response/time -> 422, unknown participant -> 404,
        index beyond the participant's trials -> 404, an already answered trial -> 409, a trial ahead of
        the next unanswered one -> 409, a closed study -> 403.
        """
        if isinstance(idx, bool) or not isinstance(idx, int):
            raise RequestError(422, f"index must be an integer, got {idx!r}")
        allowed = RESPONSES[self.config.design]
        if response not in allowed:
            raise RequestError(422, f"response must be one of {', '.join(allowed)}, got {response!r}")
        if rt_ms is not None and (isinstance(rt_ms, bool) or not isinstance(rt_ms, (int, float))
                                  or not 0 <= rt_ms < 86_400_000):
            raise RequestError(422, f"rt_ms must be a number of milliseconds >= 0, got {rt_ms!r}")
        with write_transaction(con):
            if self.is_closed(con):
                raise RequestError(403, f"study {self.name!r} is closed; answers are no longer taken")
            number, n_trials = self.participant(con, token)
            if not 0 <= idx < n_trials:
                raise RequestError(404, f"trial index {idx} out of range [0, {n_trials})")
            done = self.progress(con, number)
            if idx < done:
                raise RequestError(409, f"trial {idx} is already answered")
            if idx > done:
                raise RequestError(409, f"trial {idx} is not the next one; answer trial {done} first")
            con.execute("INSERT INTO answers VALUES (?, ?, ?, ?, ?)",
                        (number, idx, response, None if rt_ms is None else float(rt_ms), time.time()))
            truth = con.execute("SELECT truth FROM trials WHERE participant=? AND idx=?", (number, idx)).fetchone()[0]
        return number, truth

    def set_closed(self, con: sqlite3.Connection, closed: bool) -> None:
        with write_transaction(con):
            con.execute("UPDATE meta SET value=? WHERE key='closed'", ("1" if closed else "0",))


def open_study(path: str | Path) -> Study:
    """Open a study folder made by :func:`genzoo.web.study.create_study`."""
    root = Path(path)
    db = root / DB_NAME
    if not db.is_file() or not (root / "images").is_dir():
        raise StudyError(f"{root}: not a study folder (no {DB_NAME} and images/; make one with `genzoo study create`)")
    con = connect(db)
    try:
        cfg = parse_config(json.loads(con.execute("SELECT value FROM meta WHERE key='config'").fetchone()[0]),
                           str(db), check_paths=False)
        pools: dict[tuple[str, str], list[str]] = {}
        for image_id, source, role, _ in con.execute("SELECT * FROM images ORDER BY source, role, pool_index"):
            pools.setdefault((source, role), []).append(image_id)
    except (sqlite3.DatabaseError, TypeError, KeyError, json.JSONDecodeError) as e:
        raise StudyError(f"{db}: not a readable study database ({e})") from None
    finally:
        con.close()
    return Study(root, cfg, pools, frozenset(i for ids in pools.values() for i in ids))


def trials_of(study: Study, participant: int) -> list[Trial]:
    """The stored trials of one participant (what they were shown)."""
    con = study.connect()
    try:
        rows = con.execute("SELECT idx, kind, model, images, truth FROM trials WHERE participant=? ORDER BY idx",
                           (participant,)).fetchall()
    finally:
        con.close()
    return [Trial(r[0], r[1], r[2], json.loads(r[3]), r[4]) for r in rows]
