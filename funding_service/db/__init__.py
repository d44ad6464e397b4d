"""PostgreSQL access of the funding service: the pool (:mod:`.pool`), the migrator (:mod:`.migrator`) and one
repository module per concern (:mod:`.repositories`)."""
