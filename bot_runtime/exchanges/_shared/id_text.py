"""The text form of the bots' client order ids: ``pd<tag>-<role>-<stamp><counter>``.

:class:`bot_runtime.strategies.base.ClientIds` makes them: a 6-hex-digit bot tag, a lowercase role (``o`` entry,
``c`` close, ...), the milliseconds since the epoch in base 36 and a 3-digit base-36 counter. Venues whose client ids
are numbers or fixed-width hex (Backpack, Lighter, GRVT, Hyperliquid) pack that text into their own form and read it
back with :data:`NATIVE_ID` and :func:`base36`.
"""

from __future__ import annotations

import re

DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
NATIVE_ID = re.compile(r"^pd(?P<tag>[0-9a-f]{6})-(?P<role>[a-z]+)-(?P<stamp>[0-9a-z]+)(?P<counter>[0-9a-z]{3})$")


def base36(number: int) -> str:
    """``number`` (>= 0) in base 36, lowercase, without padding."""
    out = ""
    while True:
        number, rem = divmod(number, 36)
        out = DIGITS[rem] + out
        if number == 0:
            return out
