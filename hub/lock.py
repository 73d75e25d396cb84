"""One hub per data directory: `hub run` holds an exclusive lock on data_dir/hub.lock, and
`hub vault rotate` refuses to run while a hub holds it (the running hub would keep writing
secrets under the old key)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_FILE = "hub.lock"


class LockError(Exception):
    pass


class DataDirLock:
    def __init__(self, data_dir: Path, purpose: str) -> None:
        self._path = data_dir / LOCK_FILE
        self._purpose = purpose
        self._fd: int | None = None

    def __enter__(self) -> DataDirLock:
        self._path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LockError(f"{self._path.parent} is in use by a running hub; stop it before "
                            f"{self._purpose}") from None
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
