"""The project clock (config/clock.py, docs/time.md): one "now" for every process, pinnable."""

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import ImproperlyConfigured

from config import clock
from config.clock import Pin
from tests.clock import env_without_pin, real_time
from tests.factories import BusinessFactory

LEAP_DAY = datetime(2028, 2, 29, 23, 59, 30, tzinfo=UTC)


def test_a_frozen_pin_always_reads_its_instant():
    pin = Pin(at=LEAP_DAY)

    assert pin.now(real_time=0.0) == LEAP_DAY
    assert pin.now(real_time=1e9) == LEAP_DAY
    assert pin.env() == {"CLOCK_AT": "2028-02-29T23:59:30+00:00"}


def test_a_ticking_pin_moves_on_from_its_anchor():
    pin = Pin(at=LEAP_DAY, anchor=1_000_000.0)

    assert pin.now(real_time=1_000_000.0) == LEAP_DAY
    assert pin.now(real_time=1_000_045.5) == datetime(2028, 3, 1, 0, 0, 15, 500000, tzinfo=UTC)
    assert pin.env() == {"CLOCK_AT": "2028-02-29T23:59:30+00:00", "CLOCK_ANCHOR": "1000000.0"}


def test_the_environment_pins_now_and_today(monkeypatch):
    monkeypatch.setenv("CLOCK_AT", "2027-12-31T23:00:00Z")
    monkeypatch.delenv("CLOCK_ANCHOR", raising=False)

    assert clock.now() == datetime(2027, 12, 31, 23, 0, tzinfo=UTC)
    assert clock.today().isoformat() == "2027-12-31"


def test_a_ticking_environment_pin_agrees_with_the_real_seconds_since_its_anchor(monkeypatch):
    anchor = time.time() - 60.0  # noqa: TID251 - the pin ticks with the process's own seconds
    monkeypatch.setenv("CLOCK_AT", "2027-01-31T09:00:00+00:00")
    monkeypatch.setenv("CLOCK_ANCHOR", repr(anchor))

    elapsed = clock.now() - datetime(2027, 1, 31, 9, 0, tzinfo=UTC)

    assert timedelta(seconds=59) < elapsed < timedelta(seconds=70)


@pytest.mark.parametrize("value", ["2028-02-29", "yesterday", "2028-02-29T10:00:00"])
def test_an_unreadable_or_naive_pin_is_refused_with_the_variable_named(monkeypatch, value):
    monkeypatch.setenv("CLOCK_AT", value)

    with pytest.raises(ImproperlyConfigured, match="CLOCK_AT"):
        clock.now()


def test_without_a_pin_the_clock_follows_time_machine(monkeypatch):
    monkeypatch.delenv("CLOCK_AT", raising=False)

    with time_machine.travel(LEAP_DAY, tick=False):
        assert clock.now() == LEAP_DAY
        assert clock.today().isoformat() == "2028-02-29"


@pytest.mark.django_db
def test_rows_django_stamps_carry_the_clocks_time(monkeypatch):
    monkeypatch.setenv("CLOCK_AT", "2028-02-29T12:00:00Z")

    business = BusinessFactory()

    assert business.created_at == business.updated_at == datetime(2028, 2, 29, 12, 0, tzinfo=UTC)


def test_another_process_started_with_the_pin_reads_the_same_day():
    env = {**env_without_pin(), **Pin(at=LEAP_DAY, anchor=real_time()).env()}

    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", "from config import clock; print(clock.today())"],
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), env=env, capture_output=True, text=True,
        timeout=120, check=True,
    ).stdout

    # 30 seconds before midnight: the child may start after it (a ticking clock moves on).
    assert out.strip() in {"2028-02-29", "2028-03-01"}
