"""HTTP layer of the funding service (FastAPI): routes, errors, metrics, shared state."""
