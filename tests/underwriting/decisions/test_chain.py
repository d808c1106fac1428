import datetime as dt
import uuid
from decimal import Decimal
from zoneinfo import ZoneInfo

from underwriting.decisions import chain

KEY = b"test-key"
CONTENT = {
    "public_id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "as_of": dt.datetime(2026, 6, 1, 8, 30, tzinfo=dt.UTC),
    "offered_amount": Decimal("10000.00"),
    "pd": 0.0421337,
    "feature_values": [1.5, None, 3.0],
    "reasons": [{"text": "Sales fell 35% over the last 90 days", "contribution": 0.41}],
}


def test_a_signature_verifies_with_its_content_and_predecessor():
    signature = chain.sign(key=KEY, content=CONTENT, previous=chain.GENESIS)

    assert chain.verify(key=KEY, content=CONTENT, previous=chain.GENESIS, signature=signature)


def test_changing_any_value_the_predecessor_or_the_key_breaks_the_signature():
    signature = chain.sign(key=KEY, content=CONTENT, previous=chain.GENESIS)

    assert not chain.verify(key=KEY, content={**CONTENT, "offered_amount": Decimal("10000.01")},
                            previous=chain.GENESIS, signature=signature)
    assert not chain.verify(key=KEY, content={**CONTENT, "pd": 0.0421338}, previous=chain.GENESIS,
                            signature=signature)
    assert not chain.verify(key=KEY, content=CONTENT, previous="f" * 64, signature=signature)
    assert not chain.verify(key=b"other-key", content=CONTENT, previous=chain.GENESIS, signature=signature)


def test_the_same_instant_in_another_zone_signs_the_same():
    # The database returns datetimes in UTC whatever zone they were written in.
    shanghai = CONTENT["as_of"].astimezone(ZoneInfo("Asia/Shanghai"))

    assert chain.sign(key=KEY, content={**CONTENT, "as_of": shanghai}, previous=chain.GENESIS) == chain.sign(
        key=KEY, content=CONTENT, previous=chain.GENESIS
    )


def test_canonical_form_is_independent_of_key_order():
    reordered = dict(reversed(list(CONTENT.items())))

    assert chain.canonical_bytes(reordered) == chain.canonical_bytes(CONTENT)
