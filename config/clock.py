"""The project's one clock: every service, task, view and command asks it for "now".

Time is an input (docs/time.md). Lending outcomes depend on the calendar (due dates clamp to month
ends, offers expire, a decision reads the history of the days before its own), so a test, a demo or a
reproduction must be able to say which day it is, for every process at once:

* `CLOCK_AT=2028-02-29T10:00:00Z` pins the clock of a process to that instant, frozen.
* `CLOCK_AT=... CLOCK_ANCHOR=<unix seconds>` pins it ticking: at the real moment `CLOCK_ANCHOR` the
  clock read `CLOCK_AT`, and it moves on in real time from there. The test suite starts its web
  servers, workers and beat with the same pair, so all of them agree to the millisecond.
* Neither set: real time (`django.utils.timezone.now`, which `time-machine` moves in tests).

Models use `ClockDateTimeField` instead of `auto_now`/`auto_now_add`, so rows stamped by Django itself
carry the same time as the rows the services stamp.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.utils import timezone

__all__ = ["ENV_ANCHOR", "ENV_AT", "ClockDateTimeField", "Pin", "now", "pin_from_env", "today"]

ENV_AT = "CLOCK_AT"
ENV_ANCHOR = "CLOCK_ANCHOR"


@dataclass(frozen=True)
class Pin:
    """A pinned clock: `at` is the instant it read at the real moment `anchor` (seconds since the
    epoch), or forever when `anchor` is None."""

    at: datetime
    anchor: float | None = None

    def now(self, real_time: float | None = None) -> datetime:
        if self.anchor is None:
            return self.at
        real = time.time() if real_time is None else real_time
        return self.at + timedelta(seconds=real - self.anchor)

    def env(self) -> dict[str, str]:
        """The environment that gives another process this same clock."""
        out = {ENV_AT: self.at.astimezone(UTC).isoformat()}
        if self.anchor is not None:
            out[ENV_ANCHOR] = repr(self.anchor)
        return out


def _parse(at: str, anchor: str | None) -> Pin:
    try:
        moment = datetime.fromisoformat(at.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ImproperlyConfigured(f"{ENV_AT} must be an ISO 8601 instant such as 2028-02-29T10:00:00Z, got {at!r}") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ImproperlyConfigured(f"{ENV_AT} must carry its UTC offset (e.g. a trailing Z), got {at!r}")
    seconds = None
    if anchor is not None and anchor.strip():
        try:
            seconds = float(anchor)
        except ValueError:
            raise ImproperlyConfigured(f"{ENV_ANCHOR} must be a number of seconds since the epoch, got {anchor!r}") from None
    return Pin(at=moment.astimezone(UTC), anchor=seconds)


_cache: tuple[tuple[str | None, str | None], Pin | None] = ((None, None), None)


def pin_from_env() -> Pin | None:
    """The pin the environment sets (None: real time). Read on each call, parsed once per value."""
    global _cache
    key = (os.environ.get(ENV_AT), os.environ.get(ENV_ANCHOR))
    if key != _cache[0]:
        _cache = (key, _parse(key[0], key[1]) if key[0] and key[0].strip() else None)
    return _cache[1]


def now() -> datetime:
    """The current instant, timezone-aware, in UTC."""
    pin = pin_from_env()
    return timezone.now() if pin is None else pin.now()


def today() -> date:
    """The current UTC calendar day (days are UTC days: docs/time.md)."""
    return now().astimezone(UTC).date()


class ClockDateTimeField(models.DateTimeField):
    """`auto_now` / `auto_now_add` stamped by the project clock instead of the machine's."""

    def pre_save(self, model_instance, add):
        if self.auto_now or (self.auto_now_add and add):
            value = now()
            setattr(model_instance, self.attname, value)
            return value
        return super().pre_save(model_instance, add)
