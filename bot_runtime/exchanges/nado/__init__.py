"""Nado perpetuals (the Vertex team's engine on Ink) on its documented gateway API; signing in :mod:`.signing`."""
