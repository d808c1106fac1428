"""Browser tests: real headless Chromium driven by Playwright, against a real web server process and a
real Celery worker process, both on the test PostgreSQL database and the Redis broker.

Everything the server and the worker must see is committed: the package-scoped `browser_world`
simulates a demo marketplace (the partner whose merchants owners may claim), trains and activates a
model on it, and picks merchants the engine approves and declines today. Tests do not use
`transactional_db` (it would truncate the world after each test); they make unique owners instead,
and the whole database is flushed when the package finishes so later test modules start clean.

With CI=true a missing Chromium, axe-core, PostgreSQL or Redis fails the run; on a laptop these
tests are skipped.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from config import clock
from config.web import web_server_command
from tests import processes
from tests.browser.support import AXE_JS, DESKTOP
from tests.clock import travel_to
from tests.conftest import ROOT, _missing

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# services.md: without the background-networking flags Chromium tries hosts this network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PORT_BASE = int(os.environ.get("BROWSER_TEST_PORT_BASE", "18100"))

# Counts what the issue calls page interactions: a click on a link or a button, or a form submitted
# without one (Enter in a field). Typing, choosing from a list and focusing a field are not counted.
# Kept in sessionStorage so the count survives navigations within the tab.
INTERACTION_COUNTER = """
(() => {
  const KEY = '__interactions';
  const bump = (what) => {
    const seen = JSON.parse(sessionStorage.getItem(KEY) || '[]');
    seen.push(what + ' ' + location.pathname);
    sessionStorage.setItem(KEY, JSON.stringify(seen));
  };
  let lastClick = -1e9;
  document.addEventListener('click', (event) => {
    if (!event.isTrusted) return;
    const target = event.target.closest('a[href], button, input[type=submit], input[type=button], [role=button]');
    if (target) { lastClick = performance.now(); bump('click'); }
  }, true);
  document.addEventListener('submit', () => {
    if (performance.now() - lastClick > 500) bump('submit');
  }, true);
})();
"""


# ---- the world: demo merchants, an active model, committed ------------------------------------------


@dataclass
class MerchantPool:
    """Demo merchant ids grouped by what the engine decides for them today at their suggested amount.
    Each test takes its own: a claimed merchant cannot be claimed again."""

    approved: list[str] = field(default_factory=list)
    declined: list[str] = field(default_factory=list)
    # Approved at the suggestion, but countered when asking for twice as much (that amount here).
    countered: list[str] = field(default_factory=list)
    amounts: dict[str, str] = field(default_factory=dict)
    doubled: dict[str, str] = field(default_factory=dict)

    def take(self, outcome: str) -> str:
        pool = {"approved": self.approved, "declined": self.declined, "counter_offer": self.countered}[outcome]
        if not pool:
            pytest.fail(f"the simulated world has no more {outcome} merchants for this test", pytrace=False)
        return pool.pop(0)


class _Rollback(Exception):
    pass


def _outcome_today(business, amount, term_months) -> str:
    """What the engine decides for `business` now, without keeping the decision."""
    from django.db import transaction

    from underwriting.decisions.services import decision_make

    outcome = ""
    try:
        with transaction.atomic():
            outcome = decision_make(
                business=business, amount=amount, term_months=term_months, as_of=clock.now()
            ).outcome
            raise _Rollback
    except _Rollback:
        pass
    return outcome


def _flush_database() -> None:
    from django.core.management import call_command
    from django.db import connection

    # Never the development database: only a test database set up by pytest-django is flushed.
    name = connection.settings_dict["NAME"]
    if not str(name).startswith("test"):
        raise RuntimeError(f"refusing to flush {name!r}: not a test database")
    call_command("flush", interactive=False, verbosity=0)


@pytest.fixture(scope="package")
def browser_world(django_db_setup, django_db_blocker, celery_worker_process, tmp_path_factory, clock_pin):
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import override_settings

    from accounts.models import Business
    from accounts.services import roles_sync
    from loans.businesses.selectors import business_suggested_amount
    from underwriting.modeling.registry import clear_active_model_cache
    from underwriting.simulator import simulate_marketplace

    store = tmp_path_factory.mktemp("browser-models")
    # Built at the pinned instant the server and the worker run at (package fixtures start before the
    # test's own clock does).
    with travel_to(clock_pin), \
            django_db_blocker.unblock():
        if connection.vendor != "postgresql":
            _missing("the browser tests need PostgreSQL")
        _flush_database()
        roles_sync()
        # History up to yesterday: an owner who links history today has it up to date.
        yesterday = clock.today() - timedelta(days=1)
        with override_settings(MODEL_STORE=str(store)):
            simulate_marketplace(
                merchants=300, months=24, seed=5, end_date=yesterday, partner_slug=settings.DEMO_MERCHANTS_PARTNER
            )
            # The artifact path is stored absolute, so the server and the worker load it as is.
            call_command("train_model", partner=settings.DEMO_MERCHANTS_PARTNER, seed=3, quiet=True)
        clear_active_model_cache()

        pool = MerchantPool()
        merchants = Business.objects.filter(partner__slug=settings.DEMO_MERCHANTS_PARTNER).order_by("external_id")
        for business in merchants:
            if len(pool.approved) >= 8 and len(pool.declined) >= 3 and pool.countered:
                break
            suggestion = business_suggested_amount(business=business)
            merchant = business.external_id
            if suggestion.amount is None:
                # The engine lends it nothing today: any request of it is declined.
                if len(pool.declined) < 3 and _outcome_today(business, Decimal("5000.00"), 12) == "declined":
                    pool.declined.append(merchant)
                    pool.amounts[merchant] = "5000.00"
                continue
            pool.amounts[merchant] = f"{suggestion.amount:.2f}"
            outcome = _outcome_today(business, suggestion.amount, suggestion.term_months)
            if outcome == "approved":
                twice = suggestion.amount * 2
                if not pool.countered and _outcome_today(business, twice, suggestion.term_months) == "counter_offer":
                    pool.countered.append(merchant)
                    pool.doubled[merchant] = f"{twice:.2f}"
                elif len(pool.approved) < 8:
                    pool.approved.append(merchant)
            elif outcome == "declined" and len(pool.declined) < 3:
                pool.declined.append(merchant)
        if not pool.approved or not pool.declined or not pool.countered:
            pytest.fail(f"the simulated world gave too few approvals, declines or counter-offers: {pool}", pytrace=False)
    yield pool
    with django_db_blocker.unblock():
        _flush_database()
    clear_active_model_cache()


@pytest.fixture
def db(django_db_setup, django_db_blocker):
    """In this package `db` is database access without a test transaction: what the tests read was
    committed by the server and the worker, and what they write (owners) must be committed for them
    to see it. (Requesting a fixture named `db` is also what makes pytest-django create the test
    database when only these tests run.)"""
    with django_db_blocker.unblock():
        yield


# ---- the server -------------------------------------------------------------------------------------


def _free_port() -> int:
    for port in range(PORT_BASE, PORT_BASE + 100):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORT_BASE}-{PORT_BASE + 99}")


@pytest.fixture(scope="package")
def server(browser_world, redis_broker, django_db_blocker, clock_pin):
    """The web server (config/web.py) serving the site (and its static files) on the test database."""
    from django.conf import settings

    with django_db_blocker.unblock():
        database_url = processes.database_url()
    port = _free_port()
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        CELERY_BROKER_URL=redis_broker,
        DEBUG="false",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        PYTHONUNBUFFERED="1",
        **clock_pin.env(),
    )
    log_path = Path(settings.VAR_DIR) / "test-server.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "w")  # noqa: SIM115 - closed in teardown
    proc = subprocess.Popen(
        web_server_command(port=port, workers=1, threads=4, app="tests.browser.wsgi:application", access_log=True,
                           log_level="info"),
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            pytest.fail(f"the web server exited with {proc.returncode}; see {log_path}", pytrace=False)
        try:
            with urllib.request.urlopen(f"{url}/login/", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the web server did not answer in 60 s; see {log_path}", pytrace=False)
        time.sleep(0.2)
    yield url
    processes.stop_process(proc, log)


# ---- the browser ------------------------------------------------------------------------------------


@pytest.fixture(scope="package")
def chromium():
    if not (Path(CHROMIUM).exists() and os.access(CHROMIUM, os.X_OK)):
        _missing(f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)")
    if not AXE_JS.exists():
        _missing(f"axe-core is not installed ({AXE_JS}); run `npm ci` in the repository root")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop on this thread; Django then refuses ORM calls from it
    # unless told that this (single-threaded, test-only) use is safe.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
            # While Playwright's loop counts as running, Django keeps this thread's connections in a
            # separate (context-local) store; close them here, or the test database cannot be dropped.
            from django.db import connections

            connections.close_all()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def _new_page(chromium, server, viewport):
    context = chromium.new_context(base_url=server, viewport=viewport, locale="en-GB", timezone_id="UTC")
    context.set_default_timeout(15_000)
    context.add_init_script(INTERACTION_COUNTER)
    return context, context.new_page()


@pytest.fixture
def new_page(chromium, server, db, request):
    """A factory of pages, each in its own browser context (own cookies: one owner each)."""
    contexts = []

    def make(viewport=DESKTOP):
        context, page = _new_page(chromium, server, viewport)
        contexts.append((context, page))
        return page

    yield make
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    for i, (context, page) in enumerate(contexts):
        if failed:
            from django.conf import settings

            folder = Path(settings.VAR_DIR) / "browser-failures"
            folder.mkdir(parents=True, exist_ok=True)
            name = re.sub(r"[^\w.-]+", "_", request.node.name)
            # A failed screenshot must not hide the test's own failure.
            with contextlib.suppress(Exception):
                page.screenshot(path=str(folder / f"{name}-{i}.png"), full_page=True)
        context.close()


@pytest.fixture
def page(new_page, db):
    return new_page()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.rep_call = report
    return report


# ---- owners -----------------------------------------------------------------------------------------


@pytest.fixture
def make_owner(django_db_blocker, request):
    """A committed applicant login, optionally with a claimed demo merchant (its history linked)."""
    from django.conf import settings

    from accounts.models import Business
    from accounts.roles import APPLICANT
    from accounts.services import user_create_with_role

    counter = {"n": 0}

    def make(merchant_id: str | None = None) -> tuple[str, str]:
        counter["n"] += 1
        # Readable in screenshots, deterministic, and unique per test: "a-counter-offer-1-9f3c@...".
        words = request.node.originalname.removeprefix("test_").split("_")[:3]
        param = getattr(getattr(request.node, "callspec", None), "id", "")
        digest = hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:4]
        email = "-".join([*words, *([param] if param else []), str(counter["n"]), digest]) + "@owners.example.com"
        password = "correct-horse-310"
        with django_db_blocker.unblock():
            user = user_create_with_role(email=email, password=password, role=APPLICANT)
            if merchant_id:
                claimed = Business.objects.filter(
                    partner__slug=settings.DEMO_MERCHANTS_PARTNER, external_id=merchant_id, owner__isnull=True
                ).update(owner=user)
                assert claimed == 1, f"demo merchant {merchant_id} is not free to claim"
        return email, password

    return make


@pytest.fixture(scope="session")
def screenshot_dir() -> Path | None:
    """Set BROWSER_SCREENSHOTS=docs/screenshots to (re)write the README's screenshots."""
    folder = os.environ.get("BROWSER_SCREENSHOTS")
    if not folder:
        return None
    path = Path(folder)
    path = path if path.is_absolute() else ROOT / path
    path.mkdir(parents=True, exist_ok=True)
    return path

