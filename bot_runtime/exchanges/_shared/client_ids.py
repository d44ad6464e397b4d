"""Client order ids on venues that only take integers, the deterministic time layout: GRVT ``client_order_id`` (uint64
in [2^63, 2^64)), and the previous Backpack (``clientId`` uint32) and Lighter (``client_order_index`` < 2^48)
encodings, which :mod:`bot_runtime.exchanges._shared.tagged_ids` still decodes so that orders an older version left
resting are recognised (Backpack and Lighter now use that module's layout: 20 / 24 tag bits and an allocated sequence).

The strategies name their orders ``pd<tag>-<role>-<unique>`` (:class:`bot_runtime.strategies.base.ClientIds`: ``tag``
= 6 hex digits of the bot's identity, ``role`` a lowercase letter such as ``o`` open / ``c`` close / ``x`` exit,
``unique`` = base36 milliseconds + a 3-digit base36 counter) and recognise their own orders after a restart by the
tag and the role. :class:`IntegerClientIds` packs that into the venue's integer *deterministically* - the same string
always gives the same integer, in any process - and unpacks every integer the venue reports back into a string of the
same shape, so a restarted bot still tells its close orders from its entries::

    venue id = base + [1 marker bit][tag: tag_hex x 4 bits][role][seconds mod 2^S][counter mod 2^K]

* the marker (the top payload bit) says "one of ours"; below it lies the *foreign* range: a decimal client id that
  fits there is sent as it is, any other string (a manual id, a role the layout has no code for) is hashed into it;
* ``tag`` keeps the first ``tag_hex`` hex digits of the bot tag, ``role`` an index into :attr:`IntIdLayout.roles`;
* ``seconds``/``counter`` come from the unique part: the creation second (mod 2^S) and the id counter (mod 2^K).

An integer decodes to ``pd<tag_hex digits>-<role>-<seconds base36>.<counter base36>`` (the ``.`` marks the decoded
form; :meth:`IntegerClientIds.encode` maps it back to the same integer). ``ClientIds.role_of`` accepts a tag that is a
prefix of the bot's own, so the bot recognises these ids. Within one process the original string is remembered and
reported instead (an update carries exactly the id the strategy chose).

Collisions. Two ids of one bot and role encode alike only if they were made within the same second with counters
2^K apart (more than 2^K ids of the bot in one second) or ``2^S`` seconds apart (or a multiple) with counters
congruent mod 2^K. :meth:`IntegerClientIds.ensure_free` refuses - before anything is sent - a new id equal to that of
an order the client knows to be live, so two live orders never share one; the refusal itself needs a live order at
least 2^S seconds old whose (second, counter) match: about one chance in 2^(S+K) per such order and new id.
Different bots on one account share a tag with probability 16^-tag_hex (they would see each other's orders on the
same market as their own). The layouts are :data:`GRVT`, :data:`BACKPACK_LEGACY` and :data:`LIGHTER_LEGACY`.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from bot_runtime.exchanges._shared.id_text import NATIVE_ID, base36
from bot_runtime.exchanges.base import Order, OrderRejected

log = logging.getLogger(__name__)

_DECODED = re.compile(r"^pd(?P<tag>[0-9a-f]+)-(?P<role>[a-z]+)-(?P<seconds>[0-9a-z]+)\.(?P<counter>[0-9a-z]+)$")
_REMEMBERED = 100_000


@dataclass(frozen=True)
class IntIdLayout:
    """How one venue's integer client ids are cut (see the module docstring)."""

    venue: str
    payload_bits: int  # valid ids: base + [1, 2**payload_bits)
    tag_hex: int
    role_bits: int
    second_bits: int
    counter_bits: int
    roles: str = "ocx"
    base: int = 0

    def __post_init__(self) -> None:
        used = 1 + 4 * self.tag_hex + self.role_bits + self.second_bits + self.counter_bits
        if used != self.payload_bits:
            raise ValueError(f"{self.venue}: the fields take {used} bits, the venue has {self.payload_bits}")
        if len(self.roles) > 2**self.role_bits or len(set(self.roles)) != len(self.roles):
            raise ValueError(f"{self.venue}: roles {self.roles!r} do not fit {self.role_bits} bits")

    @property
    def marker(self) -> int:
        return 1 << (self.payload_bits - 1)

    @property
    def wrap_seconds(self) -> int:
        """After how many seconds the seconds field repeats."""
        return 1 << self.second_bits


#: Backpack ``clientId``: uint32. Tag: 2 hex digits; roles o/c/x; seconds wrap after ~36 h; 16 ids a second. The
#: previous Backpack encoding, still decoded in the upper half by ``tagged_ids.BACKPACK``.
BACKPACK_LEGACY = IntIdLayout("backpack", payload_bits=32, tag_hex=2, role_bits=2, second_bits=17, counter_bits=4)
#: Lighter ``client_order_index`` < 2^48. Tag: 4 hex digits; roles o/c/x; seconds wrap after ~194 days; 32 a second.
#: The previous Lighter encoding, still decoded in the upper half by ``tagged_ids.LIGHTER``.
LIGHTER_LEGACY = IntIdLayout("lighter", payload_bits=48, tag_hex=4, role_bits=2, second_bits=24, counter_bits=5)
#: GRVT ``client_order_id`` in [2^63, 2^64) (the range GRVT reserves for API clients). The whole tag; any one-letter
#: role; seconds wrap after ~4 years; 64 ids a second.
GRVT = IntIdLayout(
    "grvt",
    payload_bits=63,
    tag_hex=6,
    role_bits=5,
    second_bits=27,
    counter_bits=6,
    roles="abcdefghijklmnopqrstuvwxyz",
    base=2**63,
)


class IntegerClientIds:
    """Our string client ids ⇄ one venue's integer ids (see the module docstring)."""

    def __init__(self, layout: IntIdLayout) -> None:
        self.layout = layout
        self._originals: OrderedDict[int, str] = OrderedDict()
        self._warned_roles: set[str] = set()

    # encoding ---------------------------------------------------------------------------------------------------------
    def encode(self, client_order_id: str) -> int:
        """The venue id for ``client_order_id`` (the same in every process); remembered for :meth:`decode`."""
        venue_id = self._ours(client_order_id)
        if venue_id is None:
            venue_id = self._foreign(client_order_id)
        self._originals[venue_id] = client_order_id
        self._originals.move_to_end(venue_id)
        while len(self._originals) > _REMEMBERED:
            self._originals.popitem(last=False)
        return venue_id

    def _ours(self, client_order_id: str) -> int | None:
        layout = self.layout
        native = NATIVE_ID.match(client_order_id)
        if native is not None:
            tag = int(native["tag"][: layout.tag_hex], 16)
            role = native["role"]
            seconds = int(native["stamp"], 36) // 1000
            counter = int(native["counter"], 36)
        else:
            decoded = _DECODED.match(client_order_id)
            if decoded is None or len(decoded["tag"]) != layout.tag_hex:
                return None
            tag, role = int(decoded["tag"], 16), decoded["role"]
            seconds, counter = int(decoded["seconds"], 36), int(decoded["counter"], 36)
            if seconds >= 1 << layout.second_bits or counter >= 1 << layout.counter_bits:
                return None
        if len(role) != 1 or role not in layout.roles:
            if role not in self._warned_roles:
                self._warned_roles.add(role)
                log.warning(
                    "%s: role %r has no code in the venue's integer client ids: such orders are not recognised "
                    "after a restart",
                    layout.venue,
                    role,
                )
            return None
        return layout.base + self._pack(tag, layout.roles.index(role), seconds, counter)

    def decoded_id(self, client_order_id: str) -> int | None:
        """The venue id a decoded ``pd<tag>-<role>-<seconds>.<counter>`` form names, else None."""
        decoded = _DECODED.match(client_order_id)
        return self._ours(client_order_id) if decoded is not None else None

    def _pack(self, tag: int, role: int, seconds: int, counter: int) -> int:
        """The marker bit, then each field (reduced modulo its width) below it."""
        layout = self.layout
        payload = 1
        for value, bits in (
            (tag, 4 * layout.tag_hex),
            (role, layout.role_bits),
            (seconds, layout.second_bits),
            (counter, layout.counter_bits),
        ):
            payload = (payload << bits) | (value % (1 << bits))
        return payload

    def _foreign(self, client_order_id: str) -> int:
        layout = self.layout
        span = layout.marker  # foreign ids: base + [1, marker)
        if client_order_id.isdigit() and 0 < int(client_order_id) - layout.base < span:
            return int(client_order_id)
        digest = int.from_bytes(hashlib.blake2b(client_order_id.encode(), digest_size=8).digest(), "big")
        return layout.base + 1 + digest % (span - 1)

    # decoding ---------------------------------------------------------------------------------------------------------
    def decode(self, venue_id: int | str | None) -> str | None:
        """Our client id for a venue id: the string this process sent, else the decoded ``pd…`` form of one of ours,
        else the number as a string (a foreign id); ``None``/0/empty → ``None``."""
        if venue_id is None or venue_id == "" or str(venue_id) == "0":
            return None
        text = str(venue_id).strip()
        if not text.isdigit():
            return text
        number = int(text)
        original = self._originals.get(number)
        if original is not None:
            return original
        layout = self.layout
        payload = number - layout.base
        if not layout.marker <= payload < 2 * layout.marker:
            return text
        counter = payload % (1 << layout.counter_bits)
        payload >>= layout.counter_bits
        seconds = payload % (1 << layout.second_bits)
        payload >>= layout.second_bits
        role = payload % (1 << layout.role_bits)
        payload >>= layout.role_bits
        tag = payload % (1 << (4 * layout.tag_hex))
        if role >= len(layout.roles):
            return text
        return f"pd{tag:0{layout.tag_hex}x}-{layout.roles[role]}-{base36(seconds)}.{base36(counter)}"

    # the guard ----------------------------------------------------------------------------------------------------------
    def ensure_free(self, venue_id: int, client_order_id: str, live: Iterable[Order]) -> None:
        """Refuse (before sending) a new order whose venue id equals that of another live order."""
        for order in live:
            if order.status.is_final or not order.client_order_id or order.client_order_id == client_order_id:
                continue
            if self._peek(order.client_order_id) == venue_id:
                raise OrderRejected(
                    f"{self.layout.venue}: client id {client_order_id} maps to venue id {venue_id}, the id of the "
                    f"live order {order.order_id}; not sent (a new client id will do)",
                    exchange=self.layout.venue,
                )

    def _peek(self, client_order_id: str) -> int:
        """:meth:`encode` without remembering."""
        ours = self._ours(client_order_id)
        return ours if ours is not None else self._foreign(client_order_id)
