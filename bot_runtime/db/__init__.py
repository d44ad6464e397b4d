"""PostgreSQL helpers shared by the services standing on the runtime (the funding service, the paper exchange):
versioned migrations (:mod:`.migrator`) and a pool that survives outages (:mod:`.pool`). They import asyncpg: only
the services import this package, never a bot pod."""
