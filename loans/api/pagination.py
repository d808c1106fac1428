"""Cursor pagination: stable under inserts, and the cursor is opaque (no page numbers to enumerate)."""

from rest_framework.pagination import CursorPagination


class CreatedCursorPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200


class OccurredCursorPagination(CursorPagination):
    ordering = ("-occurred_at", "transaction_id")
    page_size = 100
    page_size_query_param = "limit"
    max_page_size = 1000
