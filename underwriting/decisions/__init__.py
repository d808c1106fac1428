"""Decisions: `decision_make` / `decision_replay` / `decisions_verify` (services.py), the HMAC chain
(chain.py), the audit's read models (audit.py) and batch scoring (batch.py)."""
