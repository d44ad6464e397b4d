"""Backtests of the funding-arbitrage strategy on the funding service's stored history (``perpdex backtest
funding-arb``, ``POST /api/v1/backtest/funding-arb``): :mod:`.history` reads it, :mod:`.replay` drives the bot's own
selection, sizing and exit code over it, :mod:`.report` and :mod:`.chart` show the result."""
