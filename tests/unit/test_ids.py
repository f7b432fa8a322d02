"""Task ids are real xids (the hosted service's shape), not random bytes dressed as one."""

from datetime import UTC, datetime

from numcheck import ids


def test_the_reference_xid_round_trips() -> None:
    # The example of the xid reference implementation (github.com/rs/xid's README).
    raw = bytes.fromhex("4d88e15b60f486e428412dc9")
    assert ids.encode_xid(raw) == "9m4e2mr0ui3e8a215n4g"
    parts = ids.decode_xid("9m4e2mr0ui3e8a215n4g")
    assert parts.created_at == datetime(2011, 3, 22, 17, 50, 19, tzinfo=UTC)
    assert (parts.machine.hex(), parts.pid, parts.counter) == ("60f486", 58408, 0x412DC9)


def test_new_ids_carry_time_machine_and_process_and_sort_by_creation() -> None:
    import os

    before = datetime.now(UTC).replace(microsecond=0)
    made = [ids.new_task_id() for _ in range(1000)]
    after = datetime.now(UTC)
    assert len(set(made)) == len(made)
    assert all(ids.is_task_id(task_id) for task_id in made)
    decoded = [ids.decode_xid(task_id) for task_id in made]
    assert all(before <= d.created_at <= after for d in decoded)
    assert {d.machine for d in decoded} == {decoded[0].machine}
    assert {d.pid for d in decoded} == {os.getpid() & 0xFFFF}
    # Within one process the counter runs on, so ids sort in the order they were made (the
    # counter wraps at 2^24, within one second at the earliest).
    counters = [d.counter for d in decoded]
    assert counters == [(counters[0] + i) & 0xFFFFFF for i in range(len(made))]
    if counters[-1] > counters[0]:
        assert sorted(made) == made


def test_ids_of_later_seconds_sort_after() -> None:
    source = ids._XidSource()
    early, late = source.new(now=1_800_000_000), source.new(now=1_800_000_001)
    assert ids.encode_xid(early) < ids.encode_xid(late)


def test_shapes_that_are_not_task_ids() -> None:
    for text in (
        "",
        "9m4e2mr0ui3e8a215n4",
        "9m4e2mr0ui3e8a215n4w",
        "9M4E2MR0UI3E8A215N4G",
        "9m4e2mr0ui3e8a215n\x00g",
        "9m4e2mr0ui3e8a215n4x",
    ):
        assert not ids.is_task_id(text), repr(text)
