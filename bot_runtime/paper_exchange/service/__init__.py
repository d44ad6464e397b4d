"""The paper exchange service: ``perpdex paper-exchange serve|migrate|status`` (FastAPI, asyncpg; never imported by
a bot pod). :mod:`.app` the HTTP/WebSocket API, :mod:`.runtime` the venues kept in memory and stored before every
answer, :mod:`.store` their PostgreSQL tables (schema ``paper_exchange``, migrations in ``migrations/``)."""
