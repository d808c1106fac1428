import pytest

# Fixtures of the audit console tests (issue 6); see tests/audit_fixtures.py.
from tests.audit_fixtures import audit_artifact, audit_users, audit_world  # noqa: F401

# ---- a small trained model and a model store (test_training.py, test_report.py) ----------------------


@pytest.fixture(scope="module")
def trained():
    from tests.underwriting.modeling.test_train import synthetic
    from underwriting.modeling.train import train_model

    return train_model(synthetic(), seed=7)


@pytest.fixture
def store(tmp_path, settings):
    settings.MODEL_STORE = tmp_path / "models"
    return settings.MODEL_STORE
