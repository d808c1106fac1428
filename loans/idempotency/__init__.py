"""Stored answers to retried partner requests (the Idempotency-Key header); the API's middleware uses them."""
