"""docs/api.md's walkthrough, run as written (every ```bash block, in order) against a live server with
a real Celery worker deciding, and a loopback receiver checking the webhooks with the Standard Webhooks
reference verifier."""

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook

from accounts.services import api_key_create
from loans.webhooks.models import WebhookEndpoint
from tests.clock import pinned_dates
from tests.conftest import _missing, wait_for
from tests.loans.api.test_webhooks import Receiver

pytestmark = pytest.mark.services

DOC = Path(__file__).resolve().parents[3] / "docs" / "api.md"


def _bash_blocks(text: str) -> list[str]:
    return re.findall(r"^```bash\n(.*?)^```", text, flags=re.S | re.M)


@pinned_dates
def test_the_walkthrough_in_docs_api_md_runs_as_written(api_server, committed_world, celery_worker_process):
    if shutil.which("jq") is None or shutil.which("curl") is None:
        _missing("the docs examples need curl and jq")
    from loans.businesses.selectors import business_suggested_amount

    merchant, amount = next(
        (b, s.amount) for b in committed_world
        if (s := business_suggested_amount(business=b)).basis == "model"
    )
    key = api_key_create(partner=merchant.partner, name="docs", scopes=["write", "admin"]).raw_key
    receiver = Receiver()
    blocks = _bash_blocks(DOC.read_text())
    assert len(blocks) >= 6
    env = {
        **os.environ, "API": f"{api_server}/api/v1", "KEY": key, "NEW_MERCHANT_ID": "M-DOC-1",
        "MERCHANT_ID": merchant.external_id, "AMOUNT": str(amount), "HOOK_URL": receiver.url,
    }
    try:
        result = subprocess.run(
            ["bash", "-c", "set -euo pipefail\n" + "\n".join(blocks)], env=env, capture_output=True, text=True,
            timeout=120, check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        out = result.stdout
        assert '"status": "approved"' in out
        assert "T1001" in out and "T1002" in out
        wait_for(lambda: {h["webhook-id"] for h, _, _ in receiver.received} and len(receiver.received) >= 3, timeout=30)
    finally:
        receiver.close()

    secret = WebhookEndpoint.objects.get(url=receiver.url).secret
    types = []
    for headers, body, code in receiver.received:
        assert code == 204
        payload = Webhook(secret).verify(body, headers)
        types.append(payload["type"])
    assert sorted(types) == ["application.decided", "loan.disbursed", "offer.accepted"]
    time.sleep(0)  # keep the receiver's thread from outliving the assertions
