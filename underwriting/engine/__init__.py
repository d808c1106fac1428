"""The decision engine: knock-out rules, PD, score, limit, price and reasons, as pure functions.

No Django here, not even indirectly (the import contract in pyproject.toml): `evaluation.evaluate` takes plain
data and returns a `DecisionResult`; `underwriting.decisions.services` loads the inputs and stores the result."""
