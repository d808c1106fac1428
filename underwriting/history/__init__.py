"""A business's history: transactions, daily rollups, metrics and the credit record (models), the import
(ingest/), the loader that turns rollups into features' plain data (loader.py), its services, reads and tasks."""
