"""Stored policy versions (models.py) and their writes (services.py); the parameters themselves are plain
data in underwriting/engine/policy.py."""
