"""The webhook outbox: endpoints, events written with the change they announce, signed deliveries with
backoff (docs/adr/0005-partner-api.md)."""
