"""Decisions: `decision_make` / `decision_replay` (services.py), the HMAC chain (chain.py), its
verification and exported head (verification.py), the audit's read models (audit.py) and batch scoring
(batch.py)."""
