# Fixtures of the audit console tests (issue 6), for verify_decisions; see tests/audit_fixtures.py.
from tests.audit_fixtures import audit_artifact, audit_world  # noqa: F401
