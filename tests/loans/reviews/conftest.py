# Fixtures of the audit console tests (issue 6); see tests/audit_fixtures.py.
from tests.audit_fixtures import audit_artifact, audit_users, audit_world  # noqa: F401
