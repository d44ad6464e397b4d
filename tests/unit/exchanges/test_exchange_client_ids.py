"""Client order ids on integer-only venues, the deterministic time layout: the strategy's ``pd<tag>-<role>-<unique>``
ids packed into GRVT integers (and the previous Backpack and Lighter encodings, still decoded after an upgrade: see
test_exchange_tagged_ids.py for the current ones) and read back - by another process too - as ids the bot
recognises."""

from __future__ import annotations

import itertools
import logging
import time
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot_runtime.exchanges._shared.client_ids import BACKPACK_LEGACY as BACKPACK
from bot_runtime.exchanges._shared.client_ids import GRVT, IntegerClientIds, IntIdLayout
from bot_runtime.exchanges._shared.client_ids import LIGHTER_LEGACY as LIGHTER
from bot_runtime.exchanges.base import Order, OrderRejected, OrderStatus, Side
from bot_runtime.strategies.base import ClientIds

LAYOUTS = [BACKPACK, LIGHTER, GRVT]
RANGES = {"backpack": (1, 2**32 - 1), "lighter": (1, 2**48 - 1), "grvt": (2**63, 2**64 - 1)}


def bot(name: str = "btc-grid", namespace: str = "trading") -> ClientIds:
    return ClientIds(name, namespace)


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda layout: layout.venue)
def test_a_restarted_process_reads_back_the_bot_and_the_role(layout: IntIdLayout) -> None:
    ids = bot()
    low, high = RANGES[layout.venue]
    for role in ("o", "c", "x"):
        sent = ids.new(role)
        venue_id = IntegerClientIds(layout).encode(sent)
        assert low <= venue_id <= high
        assert IntegerClientIds(layout).encode(sent) == venue_id  # deterministic: any process, same integer
        restarted = IntegerClientIds(layout)  # knows nothing of what was sent
        read_back = restarted.decode(venue_id)
        assert read_back is not None and read_back != sent
        assert ids.role_of(read_back) == role and bot().is_ours(read_back)
        assert restarted.encode(read_back) == venue_id  # the decoded form maps to the same integer
        assert restarted.decode(str(venue_id)) == read_back


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda layout: layout.venue)
def test_within_one_process_the_original_id_comes_back(layout: IntIdLayout) -> None:
    codec = IntegerClientIds(layout)
    sent = bot().new("c")
    assert codec.decode(codec.encode(sent)) == sent
    assert codec.decode(None) is None and codec.decode(0) is None and codec.decode("") is None


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda layout: layout.venue)
def test_foreign_ids_are_never_ours(layout: IntIdLayout) -> None:
    codec = IntegerClientIds(layout)
    mine = bot()
    for foreign in ("manual-1", "grid-close-7", "pdzzzzzz-c-1", "pd123456-tp-mwp0aa1001"):
        venue_id = codec.encode(foreign)
        assert layout.base < venue_id < layout.base + layout.marker  # the foreign half
        assert IntegerClientIds(layout).decode(venue_id) == str(venue_id)
    # a manual order with a small numeric id is sent as it is and never read as one of ours
    small = str(layout.base + 1001)
    assert codec.encode(small) == int(small)
    assert not mine.is_ours(IntegerClientIds(layout).decode(int(small)))


def test_an_other_bot_does_not_claim_the_orders() -> None:
    ids, other = bot(), bot("eth-grid")
    assert ids.tag[:6] != other.tag[:6]
    for layout in LAYOUTS:
        read_back = IntegerClientIds(layout).decode(IntegerClientIds(layout).encode(ids.new("c")))
        shared = ids.tag[2 : 2 + layout.tag_hex] == other.tag[2 : 2 + layout.tag_hex]
        assert other.is_ours(read_back) is shared  # only a bot with the same leading tag digits (16^-n)


def test_grvt_keeps_the_whole_tag_and_any_letter_role() -> None:
    ids = bot("funding", "arb")
    read_back = IntegerClientIds(GRVT).decode(IntegerClientIds(GRVT).encode(ids.new("h")))
    assert read_back is not None and read_back.startswith(ids.tag + "-h-") and ids.role_of(read_back) == "h"


def test_a_role_without_a_code_falls_back_to_a_foreign_id(caplog: pytest.LogCaptureFixture) -> None:
    codec = IntegerClientIds(BACKPACK)
    with caplog.at_level(logging.WARNING):
        venue_id = codec.encode(bot().new("h"))
    assert venue_id < BACKPACK.marker and "role 'h'" in caplog.text
    assert not bot().is_ours(IntegerClientIds(BACKPACK).decode(venue_id))


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda layout: layout.venue)
def test_ids_of_one_bot_do_not_collide_within_the_bound(layout: IntIdLayout) -> None:
    """Every id a bot makes in a burst of 2^K within one second, and ids issued up to the wrap period apart,
    map to distinct integers."""
    ids = bot()
    codec = IntegerClientIds(layout)
    start_ns = 1_764_064_800_000_000_000
    with mock.patch("bot_runtime.strategies.base.time.time_ns", return_value=start_ns):
        burst = [ids.new("o") for _ in range(2**layout.counter_bits)]
    assert len({codec.encode(cid) for cid in burst}) == len(burst)
    spread = []
    for step in range(0, layout.wrap_seconds, max(1, layout.wrap_seconds // 5000)):
        with mock.patch("bot_runtime.strategies.base.time.time_ns", return_value=start_ns + step * 10**9):
            spread.append(codec.encode(ids.new("c")))
    assert len(set(spread)) == len(spread)


@given(st.data())
def test_every_integer_of_ours_decodes_and_encodes_back(data: st.DataObject) -> None:
    layout = data.draw(st.sampled_from(LAYOUTS))
    venue_id = data.draw(st.integers(layout.base + layout.marker, layout.base + 2 * layout.marker - 1))
    read_back = IntegerClientIds(layout).decode(venue_id)
    assert read_back is not None
    if read_back.startswith("pd"):
        assert IntegerClientIds(layout).encode(read_back) == venue_id
    else:  # a role code the layout does not use
        assert read_back == str(venue_id)


def _live(order_id: str, client_order_id: str) -> Order:
    return Order(
        order_id=order_id,
        client_order_id=client_order_id,
        symbol="BTC",
        side=Side.SELL,
        size=1,
        status=OrderStatus.OPEN,
    )


def test_a_new_id_equal_to_a_live_orders_is_refused_before_sending() -> None:
    """The residual collision (a live order 2^S seconds older with the same counter) is refused, never sent."""
    ids = bot()
    codec = IntegerClientIds(BACKPACK)
    start_ns = time.time_ns()
    with mock.patch("bot_runtime.strategies.base.time.time_ns", return_value=start_ns):
        ids._counter = itertools.count()  # the same counter value twice, one wrap period apart
        old = ids.new("c")
    with mock.patch("bot_runtime.strategies.base.time.time_ns", return_value=start_ns + BACKPACK.wrap_seconds * 10**9):
        ids._counter = itertools.count()
        new = ids.new("c")
    assert old != new and codec.encode(old) == codec.encode(new)
    restarted = IntegerClientIds(BACKPACK)
    live = [_live("41", restarted.decode(codec.encode(old)) or "")]
    with pytest.raises(OrderRejected, match="live order 41"):
        restarted.ensure_free(restarted.encode(new), new, live)
    restarted.ensure_free(restarted.encode(ids.new("c")), "another", live)  # a different id passes
    restarted.ensure_free(restarted.encode(old), old, [_live("41", old)])  # the same order (a retry) passes


def test_layouts_fill_their_venue_range_exactly() -> None:
    for layout in LAYOUTS:
        low, high = RANGES[layout.venue]
        assert low <= layout.base + 1 and layout.base + 2 * layout.marker - 1 == high
    with pytest.raises(ValueError):
        IntIdLayout("x", payload_bits=32, tag_hex=6, role_bits=2, second_bits=17, counter_bits=4)
