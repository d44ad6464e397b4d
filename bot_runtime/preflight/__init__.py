"""Preflight: what a venue must answer before a bot places its first order (``perpdex preflight`` and bot start).

:mod:`.report` holds the result (each check's outcome), :mod:`.checks` runs the checks against a connected venue
client, :mod:`.cli` is the ``perpdex preflight`` command.
"""
