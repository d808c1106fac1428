"""The demo's preparation status (scripts/run.sh, `prepare_demo`): a small JSON file under VAR_DIR that
the pages read to say what is still being prepared. Absent on a server that never prepares a demo."""

from __future__ import annotations

import json
import os
from pathlib import Path

from django.conf import settings

from config import clock

# The steps, in order, as an owner or officer reads them.
STEPS = {
    "simulate": "simulating the demo marketplace (1,000 merchants, two years of trading)",
    "train": "training the demo model on its loan book",
    "owner": "giving the demo owner a merchant",
    "seed": "filling the audit console and the risk dashboard with demo decisions",
}


def _path() -> Path:
    return Path(settings.VAR_DIR) / "demo-status.json"


def demo_status_write(*, state: str, step: str, **extra) -> None:
    """Records the preparation's state ("preparing", "ready", "failed"), atomically."""
    path = _path()
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"state": state, "step": step, "at": clock.now().isoformat(), **extra}))
    os.replace(tmp, path)


def demo_status_read() -> dict | None:
    """What to tell a visitor: None when there is nothing to say (no demo, or it is ready)."""
    try:
        status = json.loads(_path().read_text())
    except (OSError, ValueError):
        return None
    if status.get("state") == "ready":
        return None
    step = status.get("step", "")
    if status.get("state") == "preparing" and step in STEPS:
        number = list(STEPS).index(step) + 1
        return {"state": "preparing", "text": f"The demo is still being prepared: {STEPS[step]} (step {number} of "
                f"{len(STEPS)}). Pages work meanwhile; applications wait for the model."}
    if status.get("state") == "failed":
        return {"state": "failed", "text": "Preparing the demo failed; see var/log/prepare.log."}
    return None
