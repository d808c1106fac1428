"""Tamper evidence for decision records: each record carries an HMAC of its own content and of the
previous record's HMAC, so rewriting any stored decision (even directly in SQL) breaks the chain,
and forging a consistent chain needs the key, which lives in settings, never in the database."""

import hashlib
import hmac
import json
import math
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

GENESIS = "0" * 64


def _normalise(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        # The database hands datetimes back in UTC whatever zone they were written in.
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        # repr round-trips exactly; NaN and infinities have no JSON form.
        return None if not math.isfinite(value) else repr(value)
    if isinstance(value, dict):
        return {str(k): _normalise(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_normalise(v) for v in value]
    return value


def canonical_bytes(content: dict[str, Any]) -> bytes:
    return json.dumps(_normalise(content), sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def sign(*, key: bytes, content: dict[str, Any], previous: str) -> str:
    mac = hmac.new(key, digestmod=hashlib.sha256)
    mac.update(previous.encode())
    mac.update(b"\n")
    mac.update(canonical_bytes(content))
    return mac.hexdigest()


def verify(*, key: bytes, content: dict[str, Any], previous: str, signature: str) -> bool:
    return hmac.compare_digest(sign(key=key, content=content, previous=previous), signature)


# A head's signature is over a message no record's can be: a record's starts with the previous HMAC
# (64 hex digits), a head's with this label.
_HEAD_LABEL = b"decision-chain-head\n"


def sign_head(*, key: bytes, head: dict[str, Any]) -> str:
    """The signature of an exported chain head (its fields other than the signature itself)."""
    return hmac.new(key, _HEAD_LABEL + canonical_bytes(head), hashlib.sha256).hexdigest()


def verify_head(*, key: bytes, head: dict[str, Any], signature: str) -> bool:
    return hmac.compare_digest(sign_head(key=key, head=head), signature)
