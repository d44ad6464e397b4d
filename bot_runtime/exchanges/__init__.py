"""Exchange clients: one contract (base.py), one module per venue, imported lazily (registry.py)."""
