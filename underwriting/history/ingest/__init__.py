"""Streaming import of merchant history (merchants, transactions, metrics, loans) in the CSV
interchange format of docs/data-format.md. The public entry points are in underwriting.history.services."""

from underwriting.history.ingest.types import FileCounts, HistoryImportError, ImportIssue, ImportResult

__all__ = ["FileCounts", "HistoryImportError", "ImportIssue", "ImportResult"]
