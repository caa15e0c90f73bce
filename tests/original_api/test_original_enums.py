"""The original kernel's enums are string enums: built from a member's name, `.value` gives the
name back, a member equals its name; dita's `parse` and `.name` stay."""

from __future__ import annotations

import pickle

import pytest

import dita
from dita import (
    KernelCommandType,
    KernelDiagnosticCode,
    KernelEventKind,
    KernelSeverity,
    TradeSide,
    TradeStage,
    VenueEventStatus,
    VenueOrderStatus,
)

# Each enum of the reference with the members it lists.
LISTED = {
    TradeStage: (
        "IDLE",
        "ORDER_REQUESTED",
        "ORDER_SENT",
        "ENTRY_WORKING",
        "POSITION_OPEN",
        "EXIT_REQUESTED",
        "EXIT_SENT",
        "EXIT_WORKING",
        "CLOSED",
    ),
    TradeSide: ("LONG", "SHORT", "FLAT"),
    KernelCommandType: ("ENTER", "EXIT", "CANCEL"),
    KernelEventKind: (
        "ORDER_ACK",
        "FILL",
        "CANCEL_ACK",
        "CANCEL_REJECT",
        "REJECT",
        "EXPIRED",
        "RATE_LIMITED",
    ),
    VenueOrderStatus: (
        "NEW",
        "ACKNOWLEDGED",
        "PARTIALLY_FILLED",
        "FILLED",
        "CANCELED",
        "REJECTED",
        "EXPIRED",
    ),
    KernelSeverity: ("INFO", "WARNING", "ERROR", "CRITICAL"),
    KernelDiagnosticCode: (
        "OK",
        "INVALID_SLOT_ID",
        "INVALID_INTENT",
        "SLOT_BUSY",
        "NO_POSITION",
        "DUPLICATE_INTENT",
        "DUPLICATE_EVENT",
        "UNKNOWN_ORDER",
        "INVALID_TRANSITION",
        "OVERFILL",
        "RATE_LIMITED",
        "MODE_BLOCKED",
        "RISK_REJECTED",
        "BELOW_MIN_NOTIONAL",
    ),
}

MEMBERS = [(enum, name) for enum, names in LISTED.items() for name in names]


@pytest.mark.parametrize(("enum", "name"), MEMBERS, ids=[f"{e.__name__}.{n}" for e, n in MEMBERS])
def test_a_member_is_built_from_its_name_and_gives_it_back_as_value(enum: type, name: str) -> None:
    member = getattr(enum, name)
    assert enum(name) == member
    assert member.value == name == member.name
    assert enum.parse(name) == member  # dita's parse stays
    assert enum(member) == member  # a member is taken as itself, as Enum(member) is


@pytest.mark.parametrize(("enum", "name"), MEMBERS, ids=[f"{e.__name__}.{n}" for e, n in MEMBERS])
def test_a_member_equals_its_name_as_a_string_enum_does(enum: type, name: str) -> None:
    member = getattr(enum, name)
    assert member == name and name == member
    assert not (member != name)
    assert {name: "found"}[member] == "found"  # hashed as its name
    assert str(member) == name


def test_a_member_still_equals_its_number_and_differs_from_other_names() -> None:
    assert TradeStage.IDLE == 0 and TradeStage.CLOSED == int(TradeStage.CLOSED)
    assert TradeStage.IDLE != "CLOSED" and TradeStage.IDLE != "idle"
    assert TradeSide.LONG != TradeStage.IDLE


def test_members_order_by_name_against_members_and_text_as_a_string_enums_do() -> None:
    stages = [TradeStage.IDLE, TradeStage.CLOSED, TradeStage.EXIT_SENT]
    assert sorted(stages) == [TradeStage.CLOSED, TradeStage.EXIT_SENT, TradeStage.IDLE]
    assert max([KernelSeverity.INFO, KernelSeverity.WARNING]) is KernelSeverity.WARNING
    assert TradeStage.CLOSED < "IDLE" and TradeStage.IDLE >= "IDLE" and not TradeStage.IDLE > "IDLE"
    with pytest.raises(TypeError):
        _ = TradeStage.IDLE < 3
    # An alias orders as the member it names, as it compares equal to it.
    acked = VenueOrderStatus.ACKNOWLEDGED
    assert acked == "ACKED" and acked <= "ACKED" and acked >= "ACKED" and not acked < "ACKED"


def test_a_member_written_back_with_value_is_read_again_and_pickles() -> None:
    for enum, names in LISTED.items():
        for name in names:
            member = enum(name)
            assert enum(member.value) == member
            assert pickle.loads(pickle.dumps(member)) == member


def test_venue_event_status_is_the_status_an_event_carries_with_acked() -> None:
    assert dita.VenueEventStatus is VenueOrderStatus
    assert VenueEventStatus("ACKED") == VenueEventStatus.ACKED == VenueOrderStatus.ACKNOWLEDGED
    assert VenueEventStatus.ACKED == "ACKED" and VenueEventStatus.parse("ACKED") == VenueEventStatus.ACKED
    assert VenueEventStatus("FILLED") == VenueOrderStatus.FILLED


def test_acked_is_found_in_sets_and_dicts_under_acknowledged_its_one_hash() -> None:
    # Equal to two names, a value can hash as one: the guide says to key by "ACKNOWLEDGED".
    ack = VenueEventStatus.ACKED
    assert {"ACKNOWLEDGED": "working"}.get(ack) == "working" and ack in {"ACKNOWLEDGED"}
    assert {VenueOrderStatus.ACKNOWLEDGED: "working"}[ack] == "working"
    assert ack not in {"ACKED"}


def test_an_event_made_without_a_status_reads_its_kinds_and_an_ack_reads_acked() -> None:
    ack = dita.VenueEvent(event_id="e1", trade_id="t", slot_id=0, kind="ORDER_ACK")
    assert ack.status == VenueEventStatus.ACKED and ack.status.value == "ACKNOWLEDGED"
    stated = dita.VenueEvent(event_id="e2", trade_id="t", slot_id=0, kind="ORDER_ACK", status="ACKED")
    assert stated.status == VenueEventStatus.ACKED


@pytest.mark.parametrize(("enum", "name"), MEMBERS, ids=[f"{e.__name__}.{n}" for e, n in MEMBERS])
def test_a_member_formats_and_answers_str_methods_as_its_name(enum: type, name: str) -> None:
    member = getattr(enum, name)
    assert f"{member:<30}|" == f"{name:<30}|" and f"{member}" == name and format(member) == name
    assert member.startswith(name[:2]) and member.lower() == name.lower()
    assert member.split("_") == name.split("_")
    with pytest.raises(AttributeError, match=f"'{enum.__name__}' object has no attribute 'nope'"):
        member.nope  # noqa: B018
    with pytest.raises(AttributeError):
        member.__deepcopy__  # noqa: B018 (a str's own dunders are not the member's)


def test_a_member_is_got_by_its_name_in_brackets_as_from_an_enum_class() -> None:
    assert TradeStage["POSITION_OPEN"] == TradeStage.POSITION_OPEN
    assert VenueEventStatus["ACKED"] == VenueOrderStatus.ACKNOWLEDGED
    with pytest.raises(KeyError, match="'position_open'"):
        TradeStage["position_open"]
    with pytest.raises(KeyError):
        TradeSide[0]  # type: ignore[index]
