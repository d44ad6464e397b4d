"""Backpack and Lighter client ids (bot_runtime/exchanges/_shared/tagged_ids.py): 20 / 24 bits of the bot tag, the
role and an allocated sequence; two bots whose tags differ in those bits never read each other's ids as their own,
ids read back by another process give the bot and the role, and a bot never reuses the id of a live or recent order
of its own, across a restart too. Orders left by the previous encoding are still recognised."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot_runtime.exchanges._shared.client_ids import IntegerClientIds
from bot_runtime.exchanges._shared.tagged_ids import BACKPACK, LIGHTER, TaggedClientIds, TaggedIdLayout
from bot_runtime.exchanges.base import Order, OrderRejected, OrderStatus, Side
from bot_runtime.strategies.base import ClientIds

LAYOUTS = [BACKPACK, LIGHTER]
NOW = 1_796_000_000.0  # unix seconds


class FakeClock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def bot(name: str = "btc-grid", namespace: str = "trading") -> ClientIds:
    return ClientIds(name, namespace)


def live(order_id: str, client_order_id: str | None, status: OrderStatus = OrderStatus.OPEN) -> Order:
    return Order(
        order_id=order_id,
        client_order_id=client_order_id,
        symbol="BTC",
        side=Side.SELL,
        size=Decimal(1),
        status=status,
    )


def with_tag(tag24: int) -> ClientIds:
    ids = bot()
    ids.tag = f"pd{tag24:06x}"
    return ids


# the collision bound ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda layout: layout.venue)
def test_the_tag_keeps_at_least_20_bits_and_the_odds_are_below_one_in_a_million(layout: TaggedIdLayout) -> None:
    assert layout.tag_bits >= 20
    allowed = 2**layout.tag_bits - 2 ** (layout.tag_bits - 16)  # tags starting with 16 zero bits are never made
    assert 1 / allowed < 1e-6
    assert layout.tag_bits + layout.role_bits + layout.seq_bits + 1 == layout.bits


@given(
    layout=st.sampled_from(LAYOUTS),
    a=st.integers(2**8, 2**24 - 1),
    b=st.integers(2**8, 2**24 - 1),
    role_a=st.sampled_from("ocx"),
    role_b=st.sampled_from("ocx"),
    start=st.floats(0, 2e9),
    burst=st.integers(1, 40),
)
def test_two_bots_whose_tags_differ_in_the_top_20_bits_never_share_an_id_or_claim_each_others(
    layout: TaggedIdLayout, a: int, b: int, role_a: str, role_b: str, start: float, burst: int
) -> None:
    """Property: tags differing in their top 20 bits (the top T on Lighter) give disjoint ids, and the id one bot
    reads back from the other's order is not its own."""
    if a >> 4 == b >> 4:  # the same top 20 bits: the case the bound is about
        return
    first, second = with_tag(a), with_tag(b)
    codec_a, codec_b = TaggedClientIds(layout, clock=FakeClock(start)), TaggedClientIds(layout, clock=FakeClock(start))
    ids_a = {codec_a.encode(first.new(role_a)) for _ in range(burst)}
    ids_b = {codec_b.encode(second.new(role_b)) for _ in range(burst)}
    assert ids_a.isdisjoint(ids_b)
    reader = TaggedClientIds(layout)  # another process of either bot
    for venue_id in ids_b:
        assert not first.is_ours(reader.decode(venue_id))
        assert second.is_ours(reader.decode(venue_id))
    for venue_id in ids_a:
        assert not second.is_ours(reader.decode(venue_id))


def test_no_bot_tag_starts_with_16_zero_bits_so_small_manual_ids_are_never_ours() -> None:
    for n in range(5000):
        assert not bot(f"bot-{n}").tag.startswith("pd0000")
    for layout in LAYOUTS:
        codec = TaggedClientIds(layout)
        for manual in ("1", "1001", "2077", str(layout.small - 1)):
            assert codec.encode(manual) == int(manual)
            assert TaggedClientIds(layout).decode(int(manual)) == manual


# round trip ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda layout: layout.venue)
@pytest.mark.parametrize("role", ["o", "c", "x"])
def test_an_id_reads_back_as_the_bot_and_the_role_in_another_process(layout: TaggedIdLayout, role: str) -> None:
    ids = bot()
    codec = TaggedClientIds(layout, clock=FakeClock())
    sent = ids.new(role)
    venue_id = codec.encode(sent)
    assert layout.small <= venue_id < layout.half
    assert codec.encode(sent) == venue_id and codec.decode(venue_id) == sent  # the same process: the same string
    restarted = TaggedClientIds(layout)
    read_back = restarted.decode(venue_id)
    assert read_back is not None and read_back.startswith(f"{ids.tag[: 2 + layout.tag_hex]}-{role}-#")
    assert ids.role_of(read_back) == role
    assert restarted.encode(read_back) == venue_id  # the decoded form names the same integer
    assert restarted.decode(str(venue_id)) == read_back


@given(st.data())
def test_every_id_of_ours_decodes_to_a_tag_and_a_role_and_encodes_back(data: st.DataObject) -> None:
    layout = data.draw(st.sampled_from(LAYOUTS))
    venue_id = data.draw(st.integers(layout.small, layout.half - 1))
    read_back = TaggedClientIds(layout).decode(venue_id)
    tag, role, _ = layout.unpack(venue_id)
    if role >= len(layout.roles):  # the role code no role uses
        assert read_back == str(venue_id)
        return
    assert read_back is not None
    assert with_tag(tag << (24 - layout.tag_bits)).role_of(read_back) == layout.roles[role]
    assert TaggedClientIds(layout).encode(read_back) == venue_id


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda layout: layout.venue)
def test_foreign_strings_are_hashed_where_no_bot_reads_them_as_its_own(layout: TaggedIdLayout) -> None:
    mine = bot()
    for foreign in ("manual-1", "grid-close-7", "pdzzzzzz-c-1", "pd123456-tp-mwp0aa1001"):
        venue_id = TaggedClientIds(layout).encode(foreign)
        assert layout.is_foreign_slice(venue_id) and venue_id < 2**layout.bits
        assert TaggedClientIds(layout).decode(venue_id) == str(venue_id)
        assert not mine.is_ours(TaggedClientIds(layout).decode(venue_id))


# no reuse -----------------------------------------------------------------------------------------------------------
def test_a_burst_never_reuses_an_id_until_the_sequence_wrapped() -> None:
    ids, clock = bot(), FakeClock()
    codec = TaggedClientIds(BACKPACK, clock=clock)
    made = [codec.encode(ids.new("c")) for _ in range(2**BACKPACK.seq_bits)]
    assert len(set(made)) == len(made)  # 512 take-profits in one second: all distinct
    clock.now += 3600  # an hour later, with none of them live: the counter follows the clock, still no repeat soon
    later = [codec.encode(ids.new("c")) for _ in range(100)]
    assert len(set(later)) == 100


def test_live_orders_ids_are_skipped() -> None:
    ids, clock = bot(), FakeClock()
    codec = TaggedClientIds(BACKPACK, clock=clock)
    resting = [live(str(n), ids.new("c")) for n in range(300)]
    taken = {codec.encode(o.client_order_id or "") for o in resting}
    clock.now += 2**BACKPACK.seq_bits  # the clock wrapped the sequence: the next ids would land on the resting ones
    fresh = [codec.encode(ids.new("c"), resting) for _ in range(200)]
    assert taken.isdisjoint(fresh) and len(set(fresh)) == 200
    # every sequence value of the role held by a live order: refused before sending
    full = resting + [live(f"f{n}", ids.new("c")) for n in range(2**BACKPACK.seq_bits - 300)]
    for order in full[300:]:
        codec.encode(order.client_order_id or "", full)
    with pytest.raises(OrderRejected, match="belongs to a live order"):
        codec.encode(ids.new("c"), full)
    assert codec.encode(ids.new("o"), full) < BACKPACK.half  # another role has its own sequence


def test_no_reuse_across_a_restart_with_live_orders() -> None:
    """A bot leaves take-profits resting and an entry it cancelled on the way out; the restarted process (a new codec,
    seeded from the clock, knowing the open orders from recovery) gives no new order the id of any of them, nor of
    any order the first process made (recent: within the 2^9 seconds of Backpack's sequence)."""
    ids, clock = bot(), FakeClock()
    first = TaggedClientIds(BACKPACK, clock=clock)
    history: list[int] = []
    take_profits = []
    for n in range(40):  # a burst at start: the counter runs ahead of the clock by 40
        cid = ids.new("c")
        history.append(first.encode(cid, take_profits))
        take_profits.append(live(f"tp{n}", cid))
    for _ in range(30):  # entries, one every 10 s (all within the 512 s the sequence takes to wrap); the last
        clock.now += 10  # one is cancelled by the restart
        history.append(first.encode(ids.new("o")))
    clock.now += 5  # the pod restarts
    restarted = TaggedClientIds(BACKPACK, clock=clock)
    recovered = [live(o.order_id, restarted.decode(first.encode(o.client_order_id or ""))) for o in take_profits]
    assert all(ids.role_of(o.client_order_id) == "c" for o in recovered)  # recovery recognises them
    new = [restarted.encode(ids.new(role), recovered) for role in "oc" * 50]
    assert set(new).isdisjoint(history)
    assert len(set(new)) == len(new)


# upgrade from the previous encoding -------------------------------------------------------------------------------
@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda layout: layout.venue)
def test_orders_of_the_previous_encoding_are_still_recognised(layout: TaggedIdLayout) -> None:
    """A bot upgraded mid-position reads the take-profits its previous version left as its own closes; a new id never
    lands in the previous encoding's range."""
    ids = bot()
    old_id = IntegerClientIds(layout.legacy).encode(ids.new("c"))  # placed by the previous version
    assert old_id >= layout.half and not layout.is_foreign_slice(old_id)
    upgraded = TaggedClientIds(layout)
    read_back = upgraded.decode(old_id)
    assert ids.role_of(read_back) == "c"
    assert read_back is not None and upgraded.encode(read_back) == old_id  # cancels and look-ups name the same id
    assert upgraded.encode(ids.new("c"), [live("1", read_back)]) < layout.half
