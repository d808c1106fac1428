"""Opening input files: UTF-8 (BOM tolerated) decoded so that a bad byte marks its line instead of
stopping the read, byte-level progress, and the header check."""

from __future__ import annotations

import codecs
import csv
import io
import os
from collections.abc import Callable
from pathlib import Path

# Bumped whenever a file's bytes need the careful path: by the codec error handler below when a byte
# sequence is not UTF-8, and by the reader when a buffer holds a NUL byte. The row loops compare it
# per row: zero cost while files are clean, and from the first suspect byte on they check every row.
SUSPECT_BYTES = [0]
_ERRORS = "lending-ingest-mark"


def _mark_undecodable(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    SUSPECT_BYTES[0] += 1
    # Same replacement as 'surrogateescape' (UTF-8 errors only involve bytes >= 0x80), so the rejected
    # rows can still be written out and the bad field named.
    return "".join(chr(0xDC00 + b) for b in exc.object[exc.start : exc.end]), exc.end


codecs.register_error(_ERRORS, _mark_undecodable)

# Wide enough for any sane field and bounded, so a missing closing quote cannot swallow gigabytes.
csv.field_size_limit(1 << 20)


class _Reader(io.RawIOBase):
    """The file's bytes, with a look at each buffer refill (not each row): NUL bytes, which csv
    passes through since Python 3.11 and PostgreSQL cannot store, and progress."""

    def __init__(self, raw: io.FileIO, on_read: Callable[[int], object] | None):
        self._raw = raw
        self._on_read = on_read

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        if n:
            if b"\x00" in data:
                SUSPECT_BYTES[0] += 1
            if self._on_read is not None:
                self._on_read(n)
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


def open_text(path: Path, on_read: Callable[[int], object] | None = None) -> io.TextIOWrapper:
    raw = _Reader(io.FileIO(path, "r"), on_read)
    return io.TextIOWrapper(
        io.BufferedReader(raw, buffer_size=1 << 20), encoding="utf-8-sig", errors=_ERRORS, newline=""
    )


def file_size(path: Path) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def rejected_path_for(path: Path) -> Path:
    return Path(f"{path}.rejected.csv")
