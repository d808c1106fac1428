"""Monitoring of the decision stream: daily summaries (services.py, tasks.py), PSI and histograms (drift.py),
the risk dashboard's reads (selectors.py)."""
