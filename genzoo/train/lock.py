"""One writer per run directory: an exclusive OS file lock, released by the OS when the process dies.

``run_dir/.lock`` holds the holder's pid, host and start time for the message a second writer gets.
A lock file left by a killed process does not block the next run: the lock is the ``flock`` on the
open file, not the file's existence. Readers (sample, eval, report) take no lock.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import IO

from genzoo.core.errors import UsageError

LOCK_NAME = ".lock"


class RunLocked(UsageError):
    """Another process is training in this run directory."""


class RunLock:
    """``with RunLock(run_dir): ...`` holds the run directory for this process."""

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.path = Path(run_dir) / LOCK_NAME
        self._file: IO[str] | None = None

    def acquire(self) -> RunLock:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a+")
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            f.close()
            raise RunLocked(
                f"{self.path.parent} is being trained by {holder}; wait for it to finish or choose another --run-dir"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(f"process {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}")
        f.flush()
        self._file = f
        return self

    def release(self) -> None:
        if self._file is not None:
            import fcntl

            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
