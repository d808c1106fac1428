"""Keyset (cursor) pagination over a unique composite order: stable under inserts, never stuck on ties.

A page's cursor is the order key of its last (or first) row, encoded opaquely; the next page is the
rows strictly after it in the order. The order always ends in a unique column set, so any number of
rows sharing a timestamp pages through (DRF's CursorPagination positions by the first field alone,
plus an offset capped at 1,000: past ~1,200 rows with one `created_at` its `next` repeated a page).
A cursor that is not one of ours is a 400 problem, never a 500.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import OrderedDict
from datetime import datetime

from django.db.models import Q
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

NEXT, PREVIOUS = "n", "p"


class KeysetPagination(BasePagination):
    # (field, descending, type) in order; the fields together are unique.
    keys: tuple[tuple[str, bool, type], ...] = ()
    page_size = 50
    max_page_size = 200
    cursor_query_param = "cursor"
    page_size_query_param = "limit"

    # ---- cursors ----------------------------------------------------------------------------------
    def _encode(self, values: list, direction: str) -> str:
        text = json.dumps({"d": direction, "v": [v.isoformat() if isinstance(v, datetime) else v for v in values]},
                          separators=(",", ":"))
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    def _decode(self, raw: str) -> tuple[str, list]:
        try:
            data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
            direction, values = data["d"], data["v"]
            if direction not in (NEXT, PREVIOUS) or len(values) != len(self.keys):
                raise ValueError
            parsed = []
            for value, (_, _, kind) in zip(values, self.keys, strict=True):
                if kind is datetime:
                    value = datetime.fromisoformat(value)
                    if value.tzinfo is None:
                        raise ValueError
                elif kind is int:
                    if type(value) is not int or not -(2**63) <= value < 2**63:
                        raise ValueError
                elif type(value) is not kind:
                    raise ValueError
                parsed.append(value)
            return direction, parsed
        except (ValueError, TypeError, KeyError, binascii.Error, UnicodeDecodeError):
            raise ValidationError({self.cursor_query_param: "Not a cursor of this list; follow `next` or `previous`."}) from None

    def _after(self, values: list, *, reverse: bool) -> Q:
        """Rows strictly after `values` in the order (before them when `reverse`)."""
        condition = Q()
        for i, (field, descending, _) in enumerate(self.keys):
            later = "lt" if descending != reverse else "gt"
            step = Q(**{f"{field}__{later}": values[i]})
            for previous_field, _, _ in self.keys[:i]:
                step &= Q(**{previous_field: values[self._index(previous_field)]})
            condition |= step
        return condition

    def _index(self, field: str) -> int:
        return [k[0] for k in self.keys].index(field)

    def _order(self, *, reverse: bool) -> list[str]:
        return [("-" if descending != reverse else "") + field for field, descending, _ in self.keys]

    def _values(self, row) -> list:
        return [getattr(row, field) for field, _, _ in self.keys]

    # ---- DRF's pagination interface ----------------------------------------------------------------
    def get_page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            raise ValidationError({self.page_size_query_param: "A whole number."}) from None
        if size < 1:
            raise ValidationError({self.page_size_query_param: "At least 1."})
        return min(size, self.max_page_size)

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.base_url = request.build_absolute_uri()
        size = self.get_page_size(request)
        raw = request.query_params.get(self.cursor_query_param)
        direction, values = self._decode(raw) if raw else (NEXT, None)
        reverse = direction == PREVIOUS
        rows = queryset.order_by(*self._order(reverse=reverse))
        if values is not None:
            rows = rows.filter(self._after(values, reverse=reverse))
        page = list(rows[: size + 1])
        more_this_way = len(page) > size
        page = page[:size]
        if reverse:
            page.reverse()
        self.has_next = more_this_way if not reverse else values is not None
        self.has_previous = values is not None if not reverse else more_this_way
        self.first_values = self._values(page[0]) if page else values
        self.last_values = self._values(page[-1]) if page else values
        if not page and values is not None:
            # An empty page past the end (or before the start): the way back is from where the cursor was.
            self.has_next, self.has_previous = (False, True) if not reverse else (True, False)
        return page

    def _link(self, values, direction: str) -> str | None:
        if values is None:
            return remove_query_param(self.base_url, self.cursor_query_param)
        return replace_query_param(self.base_url, self.cursor_query_param, self._encode(values, direction))

    def get_next_link(self) -> str | None:
        return self._link(self.last_values, NEXT) if self.has_next else None

    def get_previous_link(self) -> str | None:
        return self._link(self.first_values, PREVIOUS) if self.has_previous else None

    def get_paginated_response(self, data):
        return Response(OrderedDict([
            ("next", self.get_next_link()),
            ("previous", self.get_previous_link()),
            ("has_more", self.has_next),
            ("results", data),
        ]))

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["next", "previous", "has_more", "results"],
            "properties": {
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "previous": {"type": "string", "nullable": True, "format": "uri"},
                "has_more": {"type": "boolean", "description": "Whether `next` leads to more rows."},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {"name": self.cursor_query_param, "required": False, "in": "query",
             "description": "The opaque cursor of a `next` or `previous` link.", "schema": {"type": "string"}},
            {"name": self.page_size_query_param, "required": False, "in": "query",
             "description": f"Rows per page (1 to {self.max_page_size}).",
             "schema": {"type": "integer", "minimum": 1, "maximum": self.max_page_size}},
        ]


class CreatedCursorPagination(KeysetPagination):
    keys = (("created_at", True, datetime), ("id", True, int))
    page_size = 50
    max_page_size = 200


class OccurredCursorPagination(KeysetPagination):
    # A transaction is unique by (business, transaction_id); the business breaks ties between merchants.
    keys = (("occurred_at", True, datetime), ("business_id", False, int), ("transaction_id", False, str))
    page_size = 100
    max_page_size = 1000
