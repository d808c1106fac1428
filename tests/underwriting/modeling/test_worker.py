"""A worker process loads the active model as it starts (underwriting/modeling/worker.py)."""

import pytest
from celery.signals import worker_process_init
from django.test import override_settings

from tests.conftest import wait_for
from underwriting.modeling import (
    registry,
    worker,  # noqa: F401 - connects the hook, as CELERY_IMPORTS does in a worker
)
from underwriting.modeling.registry import clear_active_model_cache, model_version_register
from underwriting.modeling.services import model_version_promote


@pytest.mark.django_db(transaction=True)  # the load runs on its own thread, with its own connection
def test_a_new_pool_process_loads_the_active_model_before_any_decision_asks_for_it(trained_artifact):
    store, path = trained_artifact
    with override_settings(MODEL_STORE=str(store)):
        # given an active model that this process has not loaded
        version = model_version_register(artifact=path)
        model_version_promote(model_version=version, promoted_by=None, reason="the tests' model", via="tests")
        clear_active_model_cache()
        assert registry.cached_model_ids() == []

        # when the pool process starts
        worker_process_init.send(sender=None)

        # then the model is loaded (on a thread), and a decision's call finds it there
        wait_for(lambda: registry.cached_model_ids() == [version.pk], timeout=30)
        model, model_id = registry.active_model_and_id()
        assert model_id == version.pk and model is registry.active_model()
        clear_active_model_cache()
