"""The test suite's clock (docs/time.md): every test runs at a pinned instant, never today's date.

`DEFAULT_AT` is the instant of every test that does not ask for another. Date-sensitive tests (money,
due dates, expiry, days past due, the live stack) run once per instant of `PINNED_DATES`, with
`@pinned_dates`: a month end whose next month is shorter, a leap day, a year end. Processes the tests
start (the web server, the Celery worker) get the same clock through `Pin.env()`.
"""

import time
from datetime import UTC, datetime

import pytest

DEFAULT_AT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)

PINNED_DATES = {
    "month-end": datetime(2027, 1, 31, 9, 15, tzinfo=UTC),
    "leap-day": datetime(2028, 2, 29, 14, 0, tzinfo=UTC),
    "year-end": datetime(2027, 12, 31, 16, 30, tzinfo=UTC),
}

# Runs a test (and the servers and worker it uses) once at each instant of PINNED_DATES.
pinned_dates = pytest.mark.parametrize(
    "clock_pin", list(PINNED_DATES.values()), ids=list(PINNED_DATES), indirect=True
)


def real_time() -> float:
    """The machine's own seconds since the epoch, also while time-machine has moved the clock."""
    from time_machine import escape_hatch

    return escape_hatch.time.time() if escape_hatch.is_travelling() else time.time()  # noqa: TID251


def travel_to(pin):
    """time-machine moving this process's clock to `pin` (ticking), as a context manager."""
    import time_machine

    return time_machine.travel(pin.now(real_time=real_time()), tick=True)


def env_without_pin() -> dict[str, str]:
    """This process's environment without any clock pin (for a child that must get only its own)."""
    import os

    return {k: v for k, v in os.environ.items() if k not in ("CLOCK_AT", "CLOCK_ANCHOR")}
