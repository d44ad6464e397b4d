"""ApeX Omni on the official SDK ``apexomni``: the order-signing layer only (:mod:`.signing`).

Not a venue yet: there is no trading client, funding adapter or registry entry (issue 24 leaves them open; see
docs/exchanges/apex.md for what was proven and what remains).
"""
