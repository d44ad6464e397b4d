"""Client ids packed losslessly into 16 bytes (``0x`` + 32 hex digits): Hyperliquid's ``cloid``
(``hyperliquid.utils.types.Cloid``) and, written as a UUID, Ethereal's ``clientOrderId``.

The strategies' ids ``pd<6 hex tag>-<role>-<base36 ms><3 base36 counter>`` are packed *losslessly*, so every process
(a restarted bot included) reads back exactly the id the strategy chose::

    0x 7064 (ASCII "pd") | tag: 24 bits | role: 3 letters x 5 bits + 1 | milliseconds: 48 bits | counter: 24 bits

Any other string is hashed into an id starting ``0x00`` (remembered in-process for the way back); a string that
already is such an id is sent as it is.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict

from bot_runtime.exchanges._shared.id_text import NATIVE_ID, base36

_CLOID = re.compile(r"^0x[0-9a-f]{32}$")
_MARKER = 0x7064  # "pd"
_REMEMBERED = 100_000


class PackedIdCodec:
    """Our client ids ⇄ 16-byte ids written ``0x`` + 32 hex digits (see the module docstring)."""

    def __init__(self) -> None:
        self._foreign: OrderedDict[str, str] = OrderedDict()

    def encode(self, client_order_id: str) -> str:
        native = NATIVE_ID.match(client_order_id)
        if native is not None and len(native["role"]) <= 3:  # three 5-bit letters fit the cloid's role field
            stamp = int(native["stamp"], 36)
            if stamp < 1 << 48:
                role = 0
                for letter in native["role"].ljust(3, "`"):  # "`" is code 0: no letter
                    role = (role << 5) | (ord(letter) - ord("`"))
                value = _MARKER
                for field, bits in ((int(native["tag"], 16), 24), (role << 1, 16), (stamp, 48)):
                    value = (value << bits) | field
                value = (value << 24) | int(native["counter"], 36)
                return f"0x{value:032x}"
        lowered = client_order_id.lower()
        if _CLOID.match(lowered):
            return lowered
        cloid = "0x00" + hashlib.blake2b(client_order_id.encode(), digest_size=15).hexdigest()
        self._foreign[cloid] = client_order_id
        while len(self._foreign) > _REMEMBERED:
            self._foreign.popitem(last=False)
        return cloid

    def decode(self, cloid: str | None) -> str | None:
        """The client id behind a cloid: ours (unpacked), a foreign one this process sent, else the cloid itself."""
        if not cloid:
            return None
        lowered = cloid.lower()
        if lowered in self._foreign:
            return self._foreign[lowered]
        if not _CLOID.match(lowered):
            return cloid
        value = int(lowered, 16)
        counter = value & 0xFFFFFF
        stamp = (value >> 24) & ((1 << 48) - 1)
        role_bits = (value >> 72) & 0xFFFF
        tag = (value >> 88) & 0xFFFFFF
        if value >> 112 != _MARKER or counter >= 36**3 or role_bits & 1 or stamp == 0:
            return lowered
        letters = [(role_bits >> shift) & 0x1F for shift in (11, 6, 1)]
        if letters[0] == 0 or any(code > 26 for code in letters) or (letters[1] == 0 and letters[2] != 0):
            return lowered
        role = "".join(chr(ord("`") + code) for code in letters if code)
        return f"pd{tag:06x}-{role}-{base36(stamp)}{base36(counter).rjust(3, '0')}"
