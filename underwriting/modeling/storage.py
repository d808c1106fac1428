"""Durable files in the model store: synced writes and SHA-256 hashes.

The artifact and its report both write through `write_synced`, so every file of a version is on disk
before the one rename that publishes the directory (artifact.py).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_synced(path: Path, data: bytes) -> None:
    """Writes `data` to `path` and fsyncs the file."""
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
