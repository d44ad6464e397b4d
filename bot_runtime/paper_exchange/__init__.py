"""The paper exchange: simulated perpetual venues (``paper``, ``paper-a``, ...) that outlive the bots trading on them.

- :mod:`.engine`: the matching and accounting core, pure (no I/O, no clock, no asyncio): one account's orders,
  positions, fills and funding on a venue's markets. The service and the in-process simulator
  (:mod:`bot_runtime.exchanges.paper`, kept for unit tests) both run it, so the matching rules exist once.
- :mod:`.wire`: the network API's models (pydantic only), shared by the service and the bot's ``paper`` client.
- :mod:`.service`: ``perpdex paper-exchange serve|migrate|status`` (FastAPI + asyncpg, imported lazily: a bot pod
  never imports them), its state in PostgreSQL (schema ``paper_exchange``), and the market sources (synthetic or
  mirrored from a live venue).

Nothing here is imported by a bot pod except :mod:`.engine` and :mod:`.wire`.
"""
