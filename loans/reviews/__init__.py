"""Officers' oversight: reviews of decisions, the review queue, the risk dashboard page."""
