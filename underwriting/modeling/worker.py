"""What a Celery worker process does with the models when it starts: it loads the active ones (the
platform's and every partner's, ADR 0012) at once, instead of on its first decision.

Loading the model and building its explainer take about a second. Paid on the first decision, that
second is the latency of every application waiting behind it: the worker decides what is waiting in
batches, one pool process at a time (docs/adr/0009-decisions-in-batches.md). The load runs on a thread,
so the process reports itself ready at once (Celery gives a new pool process a few seconds to do so).
A decision that comes first waits on the registry's lock for the same load, never for a second one.
"""

from __future__ import annotations

import logging
import threading

from celery.signals import worker_process_init

logger = logging.getLogger(__name__)


@worker_process_init.connect
def _preload_active_model(**_kwargs) -> None:
    threading.Thread(target=_load, name="preload-model", daemon=True).start()


def _load() -> None:
    from django.db import connection

    from underwriting.modeling.registry import active_model_and_id

    try:
        active_model_and_id()
    except Exception:  # no database yet, no model, a bad artifact: the first decision says so
        logger.warning("could not preload the active model; the first decision will load it", exc_info=True)
    finally:
        connection.close()  # this thread's own connection
