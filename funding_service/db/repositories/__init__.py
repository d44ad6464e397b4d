"""SQL of the funding service, one module per concern; every function takes an asyncpg connection."""
