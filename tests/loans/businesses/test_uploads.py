"""An owner's transactions file made ready for the import (loans/businesses/uploads.py): the business's id filled
in, another merchant's rows left out and reported, and the owner's own line numbers and bytes kept."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from loans.businesses import services
from loans.businesses.uploads import owner_upload_prepare
from tests.factories import UserFactory
from underwriting.history.models import Transaction


def _upload(business, data: bytes):
    try:
        services.business_history_upload(business=business, upload=SimpleUploadedFile("t.csv", data, "text/csv"),
                                         actor="owner:x")
    except services.HistoryLinkError as exc:
        return [(e.line, e.column, e.reason) for e in exc.errors]
    return []


def test_the_copy_keeps_every_line_where_it_was_and_every_byte_as_it_was(tmp_path):
    source = tmp_path / "in.csv"
    source.write_bytes(
        b"\xef\xbb\xbftransaction_id,occurred_at,amount,currency,direction,kind,counterparty\r\n"
        b'T1,2026-03-01,1.00,CNY,in,sale,"two\r\nlines"\r\n'
        b"\r\n"
        b"T2,2026-03-01,1.00,CNY,in,sale,\xe4\xb8\x85 \xff\r\n"
    )

    prepared = owner_upload_prepare(source=source, target=tmp_path / "out.csv", merchant_id="W1")

    assert prepared.issues == []
    assert prepared.path.read_bytes() == (
        b"transaction_id,occurred_at,amount,currency,direction,kind,counterparty,merchant_id\n"
        b'T1,2026-03-01,1.00,CNY,in,sale,"two\r\nlines",W1\n'
        b"\n"
        b"T2,2026-03-01,1.00,CNY,in,sale,\xe4\xb8\x85 \xff,W1\n"
    )


def test_another_merchants_row_is_left_out_as_blank_lines_and_reported_on_its_last_line(tmp_path):
    source = tmp_path / "in.csv"
    source.write_bytes(b"merchant_id,transaction_id,occurred_at,amount,currency,direction,kind,counterparty\n"
                       b'M9,T1,2026-03-01,1.00,CNY,in,sale,"x\ny"\n'
                       b",T2,2026-03-01,1.00,CNY,in,sale,\n")

    prepared = owner_upload_prepare(source=source, target=tmp_path / "out.csv", merchant_id="W1")

    assert [(i.line, i.column) for i in prepared.issues] == [(3, "merchant_id")]
    assert prepared.path.read_bytes().split(b"\n")[1:4] == [b"", b"", b"W1,T2,2026-03-01,1.00,CNY,in,sale,"]


@pytest.mark.django_db
def test_a_byte_that_is_not_utf8_is_reported_on_its_line_and_a_utf16_file_as_a_whole():
    business = services.business_create_for_owner(owner=UserFactory(), legal_name="Mine", sector="retail")
    header = b"transaction_id,occurred_at,amount,currency,direction,kind,counterparty\n"

    bad_byte = _upload(business, header + b"T1,2026-03-01,1.00,CNY,in,sale,\n" + b"T2,2026-03-01,1.00,CNY,in,sale,Caf\xe9\n")
    utf16 = _upload(business, (header + b"T1,2026-03-01,1.00,CNY,in,sale,\n").decode().encode("utf-16"))

    assert bad_byte == [(3, "counterparty", "is not valid UTF-8 text (save the file as UTF-8)")]
    assert utf16 == [(1, None, "the file is UTF-16 encoded; save it as UTF-8")]
    assert not Transaction.objects.exists()
