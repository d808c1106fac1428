"""Fixtures of the apply flow: a model trained once per session on a simulated world, and a small
"demo" marketplace whose history ends yesterday, so an application submitted now is decided the day
after its last transactions (as the live demo is)."""

from datetime import timedelta

import pytest
from django.test import override_settings

from accounts.models import Business
from config import clock
from tests.factories import UserFactory
from underwriting.modeling.registry import clear_active_model_cache, model_version_register
from underwriting.modeling.services import model_version_promote


@pytest.fixture(scope="session")
def loans_model_artifact(trained_artifact):
    """The session's trained model (tests/conftest.py)."""
    return trained_artifact


def _make_world(artifact, merchants: int = 40):
    from underwriting.simulator import simulate_marketplace

    _store, path = artifact
    yesterday = clock.today() - timedelta(days=1)
    simulate_marketplace(merchants=merchants, months=24, seed=11, partner_slug="demo", end_date=yesterday)
    model_version_promote(model_version=model_version_register(artifact=path), promoted_by=None, reason="the tests' model",
                              via="tests")
    clear_active_model_cache()
    return list(Business.objects.filter(partner__slug="demo").select_related("partner").order_by("external_id"))


@pytest.fixture
def world(db, loans_model_artifact):
    """The demo marketplace and the trained model, active; rolled back after the test."""
    store, _ = loans_model_artifact
    with override_settings(MODEL_STORE=str(store)):
        clear_active_model_cache()
        yield _make_world(loans_model_artifact)
        clear_active_model_cache()


@pytest.fixture
def committed_world(transactional_db, loans_model_artifact):
    """The same, committed, so a worker process sees it (the tables are flushed after the test)."""
    store, _ = loans_model_artifact
    with override_settings(MODEL_STORE=str(store)):
        clear_active_model_cache()
        yield _make_world(loans_model_artifact, merchants=20)
        clear_active_model_cache()


@pytest.fixture
def owner():
    return UserFactory(email="owner@example.com")


def approvable_in(businesses):
    """The first of `businesses` the active model approves at its suggested amount, and that amount."""
    from loans.businesses.selectors import business_suggested_amount

    for business in businesses:
        suggestion = business_suggested_amount(business=business)
        if suggestion.basis == "model":
            return business, suggestion.amount
    pytest.fail("no merchant of the test world is approvable")


@pytest.fixture
def approvable(world):
    """A merchant the active model approves at its suggested amount, and that amount."""
    return approvable_in(world)


class _Rollback(Exception):
    pass


def outcome_now(business, amount, term_months: int) -> str:
    """What the engine decides for `business` now (a real decision, rolled back: nothing is kept)."""
    from decimal import Decimal

    from django.db import transaction

    from config import clock
    from underwriting.decisions.services import decision_make

    outcome = ""
    try:
        with transaction.atomic():
            outcome = decision_make(business=business, amount=Decimal(amount), term_months=term_months,
                                    as_of=clock.now()).outcome
            raise _Rollback
    except _Rollback:
        pass
    return outcome


def merchant_with_outcome(businesses, outcome: str, amount, term_months: int):
    """The first of `businesses` the engine gives `outcome` for this request now: tests pick their
    merchant by the outcome they need, never by position (another day, another world)."""
    for business in businesses:
        if outcome_now(business, amount, term_months) == outcome:
            return business
    pytest.fail(f"no merchant of the test world is {outcome} for {amount} over {term_months} months")
