"""Models scoped per partner (docs/adr/0012-model-scope.md): a partner with its own active model is
decided by it, every other partner by the platform's, one at a time and in a batch."""

import json
import shutil
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.test import override_settings

from accounts.models import Business
from underwriting.decisions.batching import DecisionRequest, decisions_make
from underwriting.decisions.services import decision_make
from underwriting.modeling.models import ModelActivation
from underwriting.modeling.registry import clear_active_model_cache, model_version_register
from underwriting.modeling.services import model_version_promote

AS_OF = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def scopes(db, trained_artifact, tmp_path):
    """Two partners' merchants; the session's model active for the platform, and a copy of it (its own
    version) active for partner "own-model" only."""
    from underwriting.simulator import simulate_marketplace

    store, path = trained_artifact
    copy = tmp_path / "m-own-model"
    shutil.copytree(path, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["version"] = "m-own-model"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with override_settings(MODEL_STORE=str(store)):
        clear_active_model_cache()
        simulate_marketplace(merchants=12, months=24, seed=11, partner_slug="own-model")
        simulate_marketplace(merchants=12, months=24, seed=12, partner_slug="uses-platform")
        own_partner = Business.objects.filter(partner__slug="own-model").first().partner
        platform = model_version_register(artifact=path)
        model_version_promote(model_version=platform, promoted_by=None, reason="platform model", via="tests")
        own = model_version_register(artifact=copy, partner=own_partner)
        activation = model_version_promote(model_version=own, promoted_by=None, reason="its own book", via="tests")
        yield {"platform": platform, "own": own, "activation": activation,
               "own_businesses": list(Business.objects.filter(partner__slug="own-model").order_by("external_id")),
               "others": list(Business.objects.filter(partner__slug="uses-platform").order_by("external_id"))}
        clear_active_model_cache()


def test_each_partner_is_decided_by_its_own_model_or_the_platforms(scopes):
    # When one merchant of each partner applies
    mine = decision_make(business=scopes["own_businesses"][0], amount=Decimal("20000.00"), term_months=12, as_of=AS_OF)
    theirs = decision_make(business=scopes["others"][0], amount=Decimal("20000.00"), term_months=12, as_of=AS_OF)
    # Then each decision cites the model of its partner's scope
    assert mine.model_version_id == scopes["own"].pk
    assert theirs.model_version_id == scopes["platform"].pk
    # And promoting the partner's model replaced nothing of the platform's: both stay active, and the
    # promotion's record names no previous version (the scope had none)
    scopes["platform"].refresh_from_db()
    assert scopes["platform"].is_active and scopes["activation"].previous_version is None
    assert ModelActivation.objects.filter(model_version=scopes["own"]).count() == 1


def test_a_batch_of_two_partners_decides_each_with_its_scopes_model(scopes):
    requests = [DecisionRequest(business=b, amount=Decimal("20000.00"), term_months=12, as_of=AS_OF)
                for b in (scopes["own_businesses"][1], scopes["others"][1], scopes["own_businesses"][2])]
    made = decisions_make(requests=requests)
    assert [d.model_version_id for d in made] == [scopes["own"].pk, scopes["platform"].pk, scopes["own"].pk]
    # and a platform partner's request decided alone cites the same version as in the batch
    alone = decision_make(business=scopes["others"][2], amount=Decimal("20000.00"), term_months=12, as_of=AS_OF)
    assert alone.model_version_id == scopes["platform"].pk
