"""Fixtures of the audit console, review and dashboard tests (issue 6).

Registered by the conftest.py of tests/underwriting and tests/loans/audit. The trained artifact is
made once per test session (the module-level cache), as tests/underwriting/decisions/test_services.py does it:
a simulated world is created in a transaction that is rolled back; the artifact directory stays.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.test import override_settings

from accounts.models import Business
from accounts.roles import APPLICANT, LOAN_OFFICER, RISK_OPERATOR
from accounts.services import roles_sync, user_create_with_role

AS_OF = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
PASSWORDS = {APPLICANT: "applicant-pass-310", LOAN_OFFICER: "officer-pass-310", RISK_OPERATOR: "risk-pass-310"}



@pytest.fixture(scope="session")
def audit_artifact(trained_artifact):
    """(store, artifact path): the session's trained model (tests/conftest.py)."""
    return trained_artifact


@pytest.fixture
def audit_world(db, audit_artifact):
    """40 merchants of another seed, the trained model registered and active; yields the businesses."""
    from underwriting.modeling.registry import clear_active_model_cache, model_version_register
    from underwriting.modeling.services import model_version_promote
    from underwriting.simulator import simulate_marketplace

    store, path = audit_artifact
    with override_settings(MODEL_STORE=str(store), MODEL_REGISTRY_CHECK_SECONDS=0):
        clear_active_model_cache()
        simulate_marketplace(merchants=40, months=24, seed=11, partner_slug="audit")
        model_version_promote(model_version=model_version_register(artifact=path), promoted_by=None, reason="the tests' model",
                              via="tests")
        yield list(Business.objects.filter(partner__slug="audit").order_by("external_id"))
        clear_active_model_cache()


def decide(business, amount="20000.00", term=12, **kwargs):
    from underwriting.decisions.services import decision_make

    return decision_make(business=business, amount=Decimal(amount), term_months=term, as_of=AS_OF, **kwargs)


@pytest.fixture
def audit_users(db):
    """One user per role (and a superuser-free world: every right comes from a role)."""
    roles_sync()
    return {role: user_create_with_role(email=f"{role}@audit.example.com", password=PASSWORDS[role], role=role)
            for role in (APPLICANT, LOAN_OFFICER, RISK_OPERATOR)}


def login(client, user):
    client.force_login(user)
    return client


def as_attacker(*statements: tuple[str, list]) -> None:
    """Raw SQL with the append-only trigger and the foreign keys' checks off, as a superuser can."""
    from django.db import connection

    with connection.cursor() as cursor:
        # The decisions' own deferred foreign-key checks run now, as they did when each decision committed
        # (the test's transaction is still open): the attack comes after.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET LOCAL session_replication_role = replica")
        for sql, params in statements:
            cursor.execute(sql, params)
        cursor.execute("SET LOCAL session_replication_role = origin")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
