"""Client order ids on Backpack (``clientId`` uint32) and Lighter (``client_order_index`` < 2^48): the bot tag, the
role and a per-bot sequence, so that bots sharing an account almost never take each other's orders for their own.

Layout (``n`` = the venue's width, ids valid in ``[1, 2^n)``)::

    lower half  [0][tag: T bits][role: R bits][sequence: Q bits]        T + R + Q = n - 1    (this encoding)
    upper half  [1][the previous layout, IntIdLayout; its role code 2^R0 - 1 never used]  (orders of older versions)
                [1][...][role code 2^R0 - 1][...]                                          (foreign ids, hashed)

* ``tag`` = the first ``T`` bits of the bot tag (:class:`bot_runtime.strategies.base.ClientIds`: 24 bits of
  sha256(namespace/name)). Backpack keeps T = 20, Lighter the whole T = 24.
* ``role`` = an index into :attr:`TaggedIdLayout.roles` (o open, c close, x exit); another role letter has no code
  and is sent as a foreign id (not recognised after a restart, as before).
* ``sequence`` is *allocated*, not derived from the string: a counter per (tag, role) that never falls behind a clock
  ticking once a second (``next = max(last + 1, unix seconds)``, taken mod 2^Q) and skips every id of a live order
  the client knows (the order hub: orders placed by this process and those found open at start, i.e. what recovery
  sees). Within one process the string the strategy chose is remembered and reported back; another process reads the
  id as ``pd<tag hex>-<role>-#<sequence base36>`` (:meth:`TaggedClientIds.encode` maps that back to the same integer),
  which :meth:`ClientIds.role_of` accepts as ours (a tag that starts the bot's own tag).

Collision bound (two bots on one account). A bot tag is the first 24 bits of SHA-256(namespace/name), re-hashed
while it starts with 16 zero bits (those tags are kept for small manual ids, below). Its first T bits are then
uniform over the 2^T - 2^(T-16) allowed values, so two given bots share them with probability
p = 1 / (2^T - 2^(T-16)): Backpack 1 / (2^20 - 16) = 9.54e-7 < 1e-6, Lighter 1 / (2^24 - 256) = 5.96e-8. Two bots
whose T tag bits differ have disjoint id sets in the lower half (the tag field differs), so neither ever reads an
order of the other as its own, whatever the sequences. Among k bots on one account the chance that any two share
a tag is at most k(k-1)/2 * p (10 bots on Backpack: 4.3e-5). Foreign ids: any decimal string in range is sent as
it is; one below :attr:`TaggedIdLayout.small` = 2^(n-17) (32,768 on Backpack, 2^31 on Lighter) has a tag starting
with 16 zero bits and is never read as ours; a larger one is read as ours only if its T tag bits equal ours
(probability p for a random id). Any other string is hashed into the upper slice, never ours.

Reuse (one bot). The counter only grows, so an id of the same role comes back only after the counter moved on by
2^Q: after 2^Q new ids of that role or 2^Q seconds, whichever comes first (Backpack Q = 9: 512 ids / 8.5 minutes;
Lighter Q = 21: 2,097,152 ids / 24 days), and never while the order holding it is live (:meth:`encode` skips live
ids; more than 2^Q live orders of one role is refused). Across a restart the new process starts from the clock
(unix seconds), which is past every id the old process issued unless the old one ran ahead of the clock (more than
one id of a role per second on average); the ids it ran ahead with are live (then skipped) or were made within the
last few seconds before the stop.

The previous encoding (``IntIdLayout`` with a marker bit, 8 tag bits on Backpack, 16 on Lighter) lives wholly in the
upper half and is still decoded (``pd<2 or 4 hex>-<role>-<seconds>.<counter>``), so a bot upgraded mid-position
recognises the take-profits its previous version left. Those orders keep the old odds (1/256 on Backpack, 1/65,536
on Lighter that another bot's old orders read as ours) until they are filled or cancelled; the new ones never fall in
that range.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bot_runtime.exchanges._shared.client_ids import BACKPACK_LEGACY, LIGHTER_LEGACY, IntegerClientIds, IntIdLayout
from bot_runtime.exchanges._shared.id_text import NATIVE_ID, base36
from bot_runtime.exchanges.base import Order, OrderRejected

log = logging.getLogger(__name__)

_DECODED = re.compile(r"^pd(?P<tag>[0-9a-f]+)-(?P<role>[a-z]+)-#(?P<seq>[0-9a-z]+)$")
_REMEMBERED = 100_000
_BOT_TAG_BITS = 24  # ClientIds: 6 hex digits


@dataclass(frozen=True)
class TaggedIdLayout:
    """How one venue's integer client ids are cut (see the module docstring)."""

    venue: str
    bits: int  # valid ids: [1, 2**bits)
    tag_bits: int
    role_bits: int
    legacy: IntIdLayout  # the previous encoding, decoded in the upper half
    roles: str = "ocx"

    def __post_init__(self) -> None:
        if self.tag_bits % 4 or not 20 <= self.tag_bits <= _BOT_TAG_BITS:
            raise ValueError(f"{self.venue}: the tag takes a whole number of hex digits, 20 to 24 bits")
        if self.seq_bits < 1:
            raise ValueError(f"{self.venue}: no bits left for the sequence")
        if len(self.roles) > 2**self.role_bits or len(set(self.roles)) != len(self.roles):
            raise ValueError(f"{self.venue}: roles {self.roles!r} do not fit {self.role_bits} bits")
        if self.legacy.payload_bits != self.bits or self.legacy.base != 0:
            raise ValueError(f"{self.venue}: the previous layout must cover the same range")
        if len(self.legacy.roles) >= 2**self.legacy.role_bits:
            raise ValueError(f"{self.venue}: the previous layout leaves no role code for foreign ids")

    @property
    def seq_bits(self) -> int:
        return self.bits - 1 - self.tag_bits - self.role_bits

    @property
    def half(self) -> int:
        """The first id of the upper half (previous encoding and foreign ids)."""
        return 1 << (self.bits - 1)

    @property
    def small(self) -> int:
        """Ids below this are never ours: their tag starts with 16 zero bits, which no bot tag does (ClientIds)."""
        return 1 << (self.bits - 1 - 16)

    @property
    def tag_hex(self) -> int:
        return self.tag_bits // 4

    @property
    def _legacy_role_shift(self) -> int:
        return self.legacy.second_bits + self.legacy.counter_bits

    def is_foreign_slice(self, venue_id: int) -> bool:
        """An upper-half id whose previous-layout role code is the unused one (where foreign strings are hashed)."""
        code = (venue_id >> self._legacy_role_shift) % (1 << self.legacy.role_bits)
        return venue_id >= self.half and code == (1 << self.legacy.role_bits) - 1

    def pack(self, tag: int, role: int, seq: int) -> int:
        return (((tag << self.role_bits) | role) << self.seq_bits) | (seq % (1 << self.seq_bits))

    def unpack(self, venue_id: int) -> tuple[int, int, int]:
        seq = venue_id % (1 << self.seq_bits)
        rest = venue_id >> self.seq_bits
        return rest >> self.role_bits, rest % (1 << self.role_bits), seq


#: Backpack ``clientId`` (uint32): 20 tag bits, roles o/c/x, 9 sequence bits (512 ids a role before one comes back).
BACKPACK = TaggedIdLayout("backpack", bits=32, tag_bits=20, role_bits=2, legacy=BACKPACK_LEGACY)
#: Lighter ``client_order_index`` (< 2^48): the whole 24-bit tag, roles o/c/x, 21 sequence bits.
LIGHTER = TaggedIdLayout("lighter", bits=48, tag_bits=24, role_bits=2, legacy=LIGHTER_LEGACY)


class TaggedClientIds:
    """Our string client ids ⇄ one venue's integer ids (see the module docstring)."""

    def __init__(self, layout: TaggedIdLayout, *, clock: Callable[[], float] = time.time) -> None:
        self.layout = layout
        self._clock = clock
        self._legacy = IntegerClientIds(layout.legacy)
        self._sent: OrderedDict[str, int] = OrderedDict()  # strings this process encoded → their ids
        self._originals: OrderedDict[int, str] = OrderedDict()  # and back
        self._counters: dict[tuple[int, int], int] = {}  # (tag, role) → the last counter value used
        self._warned_roles: set[str] = set()

    # encoding ---------------------------------------------------------------------------------------------------------
    def encode(self, client_order_id: str, live: Iterable[Order] = ()) -> int:
        """The venue id for ``client_order_id``: the one this process gave it before, else a fresh one for a new id
        of ours (never one of a ``live`` order), else the id a decoded form names, else a foreign id."""
        known = self._sent.get(client_order_id)
        if known is not None:
            return known
        native = NATIVE_ID.match(client_order_id)
        venue_id: int | None = None
        if native is not None:
            role = self._role_code(native["role"])
            if role is not None:
                tag = int(native["tag"], 16) >> (_BOT_TAG_BITS - self.layout.tag_bits)
                venue_id = self._allocate(tag, role, live)
        if venue_id is None:
            venue_id = self._peek(client_order_id)
        self._remember(client_order_id, venue_id)
        return venue_id

    def _role_code(self, role: str) -> int | None:
        layout = self.layout
        if len(role) == 1 and role in layout.roles:
            return layout.roles.index(role)
        if role not in self._warned_roles:
            self._warned_roles.add(role)
            log.warning(
                "%s: role %r has no code in the venue's integer client ids: such orders are not recognised after a "
                "restart",
                layout.venue,
                role,
            )
        return None

    def _allocate(self, tag: int, role: int, live: Iterable[Order]) -> int:
        layout = self.layout
        taken = {self._peek(o.client_order_id) for o in live if o.client_order_id and not o.status.is_final}
        start = max(self._counters.get((tag, role), -1) + 1, int(self._clock()))
        for step in range(1 << layout.seq_bits):
            venue_id = layout.pack(tag, role, start + step)
            if venue_id not in taken and venue_id != 0:
                self._counters[(tag, role)] = start + step
                return venue_id
        raise OrderRejected(
            f"{layout.venue}: every client id of role {layout.roles[role]!r} belongs to a live order "
            f"({1 << layout.seq_bits}); not sent",
            exchange=layout.venue,
        )

    def _peek(self, client_order_id: str) -> int:
        """The id of a string without allocating: remembered, decoded form, previous encoding, or foreign."""
        known = self._sent.get(client_order_id)
        if known is not None:
            return known
        layout = self.layout
        decoded = _DECODED.match(client_order_id)
        if decoded is not None and len(decoded["tag"]) == layout.tag_hex and decoded["role"] in layout.roles:
            seq = int(decoded["seq"], 36)
            if len(decoded["role"]) == 1 and seq < 1 << layout.seq_bits:
                venue_id = layout.pack(int(decoded["tag"], 16), layout.roles.index(decoded["role"]), seq)
                if venue_id:
                    return venue_id
        if client_order_id.isdigit() and 0 < int(client_order_id) < 1 << layout.bits:
            return int(client_order_id)
        legacy = self._legacy.decoded_id(client_order_id)
        if legacy is not None:
            return legacy
        return self._foreign(client_order_id)

    def _foreign(self, client_order_id: str) -> int:
        """A hash into the upper slice the previous layout never used."""
        layout = self.layout
        shift = layout._legacy_role_shift
        digest = int.from_bytes(hashlib.blake2b(client_order_id.encode(), digest_size=8).digest(), "big")
        free = digest % (1 << (layout.bits - 1 - layout.legacy.role_bits))
        low, high = free % (1 << shift), free >> shift
        code = (1 << layout.legacy.role_bits) - 1
        return layout.half | (((high << layout.legacy.role_bits) | code) << shift) | low

    def _remember(self, client_order_id: str, venue_id: int) -> None:
        self._sent[client_order_id] = venue_id
        self._sent.move_to_end(client_order_id)
        self._originals[venue_id] = client_order_id
        self._originals.move_to_end(venue_id)
        while len(self._sent) > _REMEMBERED:
            self._sent.popitem(last=False)
        while len(self._originals) > _REMEMBERED:
            self._originals.popitem(last=False)

    # decoding ---------------------------------------------------------------------------------------------------------
    def decode(self, venue_id: int | str | None) -> str | None:
        """Our client id for a venue id: the string this process sent, else ``pd<tag>-<role>-#<seq>``, else the
        previous encoding's ``pd…`` form, else the number as a string (a foreign id); ``None``/0/empty → ``None``."""
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
        if number >= 1 << layout.bits or layout.is_foreign_slice(number):
            return text
        if number >= layout.half:
            return self._legacy.decode(number)
        tag, role, seq = layout.unpack(number)
        if role >= len(layout.roles) or number < layout.small:  # a small decimal id: a manual one
            return text
        return f"pd{tag:0{layout.tag_hex}x}-{layout.roles[role]}-#{base36(seq)}"

    # the guard ----------------------------------------------------------------------------------------------------------
    def ensure_free(self, venue_id: int, client_order_id: str, live: Iterable[Order]) -> None:
        """Refuse (before sending) a new order whose venue id equals that of another live order (a foreign or
        decoded id; fresh ids of ours are allocated free)."""
        for order in live:
            if order.status.is_final or not order.client_order_id or order.client_order_id == client_order_id:
                continue
            if self._peek(order.client_order_id) == venue_id:
                raise OrderRejected(
                    f"{self.layout.venue}: client id {client_order_id} maps to venue id {venue_id}, the id of the "
                    f"live order {order.order_id}; not sent (a new client id will do)",
                    exchange=self.layout.venue,
                )
