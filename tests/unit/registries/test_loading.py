"""Registry loads on a real data dir: reports, versions and round trips through lookups."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from numcheck import csvinput, errors
from numcheck.config import Settings
from numcheck.registries import hashing, loading, versions
from numcheck.registries.hashing import KeyedHasher
from numcheck.registries.keys import registry_key
from numcheck.registries.siphash import siphash24
from numcheck.registries.snapshot import Snapshot
from numcheck.storage import db
from numcheck.storage.models import RegistryVersion
from numcheck.storage.stores import Stores


@pytest.fixture
def stores(tmp_path: Path):
    stores = Stores.open(Settings(data_dir=tmp_path / "data"))
    db.upgrade(stores.engine)
    yield stores
    stores.close()


def load(
    stores: Stores,
    text: str,
    mode: str = "replace",
    column: str | None = None,
    name: str = "htx",
    filename: str = "numbers.txt",
):
    csv_input = csvinput.for_file(filename, column=column, id_column=None, default_region=None)
    run = loading.start(stores, name, csv_input=csv_input, default_region=None)
    data = text.encode()
    for start in range(0, len(data), 7):  # small pieces: lines cross piece boundaries
        run.feed(data[start : start + 7])
    return loading.publish(stores, name, mode, run, record=lambda _session, _report: None)


def members(stores: Stores, numbers: list[str], name: str = "htx") -> list[bool]:
    with stores.sessions.begin() as session:
        version = versions.current(session, name)
        key = versions.snapshot_key(name, version.version)
        digest = version.digest
    snapshot = Snapshot.open(stores.blobs.local_path(key))
    hasher = KeyedHasher(registry_key(stores.settings)).with_digest(digest)
    return snapshot.contains(hasher.digests(numbers)).tolist()


A, B, C, D = "+12025550101", "+4915112345678", "+442079460958", "+33612345678"


def test_replace_add_remove_round_trip(stores: Stores) -> None:
    first = load(stores, f"{A}\n{B}\n")
    assert (first.version, first.entries, first.mode) == (1, 2, "replace")
    assert members(stores, [A, B, C]) == [True, True, False]

    added = load(stores, f"{C}\n{A}\n", mode="add")
    assert (added.version, added.entries) == (2, 3)
    assert members(stores, [A, B, C, D]) == [True, True, True, False]

    removed = load(stores, f"{A}\n{D}\n", mode="remove")
    assert (removed.version, removed.entries) == (3, 2)
    assert members(stores, [A, B, C, D]) == [False, True, True, False]

    replaced = load(stores, f"{D}\n")
    assert (replaced.version, replaced.entries) == (4, 1)
    assert members(stores, [A, B, C, D]) == [False, False, False, True]
    # Superseded versions that no task uses are gone, rows and snapshots.
    with stores.sessions.begin() as session:
        assert versions.unused_versions(session) == []
    assert sorted(p.name for p in (stores.settings.blob_dir / "registries" / "htx").iterdir()) == [
        "000004.u64"
    ]


def test_spellings_normalize_like_checks_and_report_duplicates_and_invalid_lines(
    stores: Stores,
) -> None:
    lines = [A, "+1 (202) 555-0101", "0012025550101", "hello", "", B, "+0 123", "tel:+1"]
    lines += [f"bad {i}" for i in range(30)]
    report = load(stores, "\r\n".join(lines))
    assert report.entries == 2
    assert report.numbers == 4 and report.duplicates == 2
    assert report.invalid == 3 + 30
    assert report.invalid_lines == [4, 7, 8, *range(9, 26)]  # the first 20, by line number
    assert members(stores, [A, B]) == [True, True]


def test_a_valid_looking_but_invalid_number_is_still_a_member(stores: Stores) -> None:
    unassigned = "+120255500000"  # parses (11 national digits), but no US number is that long
    assert not phonenumbers.is_valid_number(phonenumbers.parse(unassigned))
    load(stores, f"{unassigned}\n")
    assert members(stores, [unassigned]) == [True]


def test_csv_column(stores: Stores) -> None:
    report = load(stores, f'id,name,phone\n1,"Doe, J",{A}\n2,x,{B}\n3,y,\n', column="phone")
    # A row whose number cell is empty is skipped, as in a task (it holds no number to check).
    assert (report.entries, report.invalid, report.invalid_lines) == (2, 0, [])
    with pytest.raises(errors.InvalidRequest):
        load(stores, f"id,tel\n1,{A}\n", column="phone")


def test_a_registry_csv_is_read_as_task_uploads_are(stores: Stores) -> None:
    """The one CSV reader: a named CSV without `column` finds its numbers' column, and keeps
    its header out (or keeps its first row, when that row is a number)."""
    report = load(stores, f"name,phone\nalice,{A}\nbob,{B}\n", filename="crm.csv")
    assert (report.entries, report.invalid) == (2, 0)
    report = load(stores, f"{A},alice\n{B},bob\n", filename="crm.csv")
    assert (report.entries, report.invalid) == (2, 0)  # no header: the first row is a number
    report = load(stores, f"phone\n{A}\nnope\n", filename="crm.csv")
    assert (report.invalid, report.invalid_lines) == (1, [3])  # line numbers of the file


def test_bad_mode_and_names_are_refused(stores: Stores) -> None:
    with pytest.raises(errors.InvalidRequest):
        load(stores, f"{A}\n", mode="merge")
    for bad in ("HTX", "1abc", "a" * 33, "with space", "validate"):
        with pytest.raises(errors.InvalidRequest):
            versions.check_name(bad, {"validate"})
    with stores.sessions.begin() as session:
        assert versions.listing(session) == []


@settings(max_examples=100, deadline=None)
@given(
    st.sets(st.integers(min_value=0, max_value=2**64 - 1), max_size=200),
    st.lists(st.integers(min_value=0, max_value=2**64 - 1), max_size=200),
)
def test_snapshot_membership_equals_a_set(table: set[int], queries: list[int]) -> None:
    snapshot = Snapshot(np.array(sorted(table), dtype="<u8"))
    mixed = queries + list(table)[:50]
    found = snapshot.contains(np.array(mixed, dtype="<u8")).tolist()
    assert found == [q in table for q in mixed]


@pytest.mark.parametrize("digest", hashing.DIGESTS)
def test_digests_are_keyed(digest: str) -> None:
    one, two = KeyedHasher(b"k" * 32, digest), KeyedHasher(b"j" * 32, digest)
    assert one.digests([A, B]).tolist() == one.digests([A, B]).tolist()
    assert one.digests([A]).tolist() != two.digests([A]).tolist()
    other = hashing.BLAKE2B if digest == hashing.SIPHASH else hashing.SIPHASH
    assert one.digests([A]).tolist() != one.with_digest(other).digests([A]).tolist()
    assert one.digests([]).dtype == np.dtype("<u8")
    assert one.key_check == KeyedHasher(b"k" * 32).key_check  # the key's, whatever the digest


def test_siphash_matches_the_reference_vectors() -> None:
    """SipHash-2-4 of the bytes 0, 1, ... under the key 0..15 (the paper's vectors.h)."""
    expected = {
        8: "6224939a79f5f593",
        16: "db9bc2577fcc2a3f",
        24: "94af49f6c650adb8",
        32: "ce7cf2722f512771",
    }
    for length, digest in expected.items():
        words = np.frombuffer(bytes(range(length)), dtype="<u8").reshape(1, -1)
        assert siphash24(bytes(range(16)), words)[0].tobytes().hex() == digest
    many = np.tile(np.frombuffer(bytes(range(24)), dtype="<u8"), (40_000, 1))
    assert set(siphash24(bytes(range(16)), many).tolist()) == {0xB8AD50C6F649AF94}


def test_the_sip_digest_is_siphash_of_the_zero_padded_number() -> None:
    hasher = KeyedHasher(b"k" * 32)
    sip_key = hashlib.blake2b(
        b"numcheck registry siphash-2-4 key", key=b"k" * 32, digest_size=16
    ).digest()
    message = A.encode().ljust(24, b"\0")
    words = np.frombuffer(message, dtype="<u8").reshape(1, 3)
    assert hasher.digests([A]).tolist() == siphash24(sip_key, words).tolist()
    assert hasher.digests_of_rows(hashing.padded_rows([A])).tolist() == hasher.digests([A]).tolist()
    with pytest.raises(ValueError, match="at most 24"):
        hasher.digests(["+" + "1" * 24])
    with pytest.raises(ValueError):
        KeyedHasher(b"k" * 32, "md5")


@settings(max_examples=50, deadline=None)
@given(st.lists(st.from_regex(r"\+[0-9]{1,20}", fullmatch=True), max_size=50))
def test_distinct_numbers_get_distinct_digests(numbers: list[str]) -> None:
    hasher = KeyedHasher(b"k" * 32)
    digests = hasher.digests(numbers).tolist()
    assert len(set(digests)) == len(set(numbers))
    assert digests == [hasher.digests([n]).tolist()[0] for n in numbers]


def test_a_load_that_finds_older_digests_at_publish_changes_nothing(stores: Stores) -> None:
    """A numcheck from before SipHash loaded the registry meanwhile: this load cannot combine."""
    csv_input = csvinput.for_file("n.txt", column=None, id_column=None, default_region=None)
    run = loading.start(stores, "htx", csv_input=csv_input, default_region=None)
    run.feed(f"{A}\n".encode())
    with stores.sessions.begin() as session:
        versions.publish(
            session,
            "htx",
            entries=0,
            mode="replace",
            source_sha256="",
            key_check=KeyedHasher(registry_key(stores.settings)).key_check,
            digest=hashing.BLAKE2B,
        )
    with pytest.raises(errors.InvalidRequest, match="older digests"):
        loading.publish(stores, "htx", "add", run, record=lambda _session, _report: None)
    with stores.sessions.begin() as session:
        assert [(v.version, v.digest) for v in session.scalars(select(RegistryVersion))] == [
            (1, hashing.BLAKE2B)
        ]


_LINE_PIECES = st.sampled_from(
    ["+", "0", "1", "4", "9", "00", " ", "-", "(", "a", "é", "+1", "+49"]
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.from_regex(r"\+[0-9]{1,26}", fullmatch=True),
            st.lists(_LINE_PIECES, max_size=12).map("".join),
            st.sampled_from([A, B, C, D, "+4401234567890", "+390612345678", "+78005553535"]),
        ),
        max_size=60,
    )
)
def test_lines_taken_as_already_e164_are_what_describe_lines_answers(lines: list[str]) -> None:
    """The load's fast path takes a line as its own E.164 only where the validator would."""
    from numcheck.numbers.compiled import validator
    from numcheck.registries.plainlines import PlainLines
    from numcheck.textlines import LineIndex

    lines = [line.replace("\n", "") for line in lines]
    compiled = validator.shared()
    index = LineIndex("".join(f"{line}\n" for line in lines).encode())
    ends = index.ends
    starts = np.concatenate(([0], ends[:-1] + 1))[: len(ends)].astype(np.int64)
    plain_lines = PlainLines(compiled.t)
    rows = plain_lines.rows(index.block, starts, ends - starts)
    plain = plain_lines.plain(rows, ends - starts).tolist()
    batch = compiled.describe_lines(lines, None, classify=False)
    for line, taken, reason, e164, row in zip(
        lines, plain, batch.reasons, batch.e164, rows, strict=True
    ):
        if taken:
            assert (reason, e164) == (None, line)
            assert bytes(row).rstrip(b"\0").decode() == line
        # Declined lines go through describe_lines itself: always right, only slower.
    # The usual lines do take the fast path (a national prefix to consider declines it).
    usual = {A, B, C, D, "+4915112345678", "+390612345678"}
    assert all(taken for line, taken in zip(lines, plain, strict=True) if line in usual)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(0, 10**9 - 1), max_size=300),
    st.lists(st.integers(0, 10**9 - 1), max_size=300),
    st.lists(st.integers(0, 10**9 - 1), max_size=300),
)
def test_membership_after_replace_add_remove_equals_sets(
    tmp_path_factory: pytest.TempPathFactory, first: list[int], more: list[int], gone: list[int]
) -> None:
    """Every bucket of the spool and every mode: a registry answers as Python sets do, for
    numbers written as E.164 and in other spellings alike."""
    stores = Stores.open(Settings(data_dir=tmp_path_factory.mktemp("data")))
    db.upgrade(stores.engine)
    try:

        def spelled(values: list[int]) -> list[str]:
            return [f"+4915{v:09d}" if v % 3 else f"0049 15{v:09d}" for v in values]

        def e164(values: list[int]) -> set[str]:
            return {f"+4915{v:09d}" for v in values}

        load(stores, "\n".join(spelled(first)) + "\n")
        load(stores, "\n".join(spelled(more)) + "\n", mode="add")
        report = load(stores, "\n".join(spelled(gone)) + "\n", mode="remove")
        expected = (e164(first) | e164(more)) - e164(gone)
        asked = [*sorted(e164(first + more + gone)), "+4915000000000", "+12025550101"]
        assert report.entries == len(expected)
        assert members(stores, asked) == [number in expected for number in asked]
    finally:
        stores.close()


@pytest.mark.parametrize("size", [1, 31, 1_000, 300_000])
def test_snapshot_membership_equals_a_set_at_size(size: int) -> None:
    """Directories of one to thousands of buckets, queries at their edges included."""
    rng = np.random.default_rng(size)
    table = np.unique(rng.integers(0, 2**64, size=size, dtype=np.uint64))
    edges = np.array([0, 1, 2**63 - 1, 2**63, 2**64 - 2, 2**64 - 1], dtype=np.uint64)
    queries = np.concatenate(
        [
            table[:: max(1, size // 5_000)],
            table[::97] + np.uint64(1),
            edges,
            rng.integers(0, 2**64, size=5_000, dtype=np.uint64),
        ]
    )
    found = Snapshot(table).contains(queries)
    members = set(table.tolist())
    assert found.tolist() == [q in members for q in queries.tolist()]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from([A, B, C, D, "+1 (202) 555-0101", "0012025550101", "n/a", "", "+0 1"]),
            st.from_regex(r"\+4915[0-9]{9}", fullmatch=True),
            st.lists(_LINE_PIECES, max_size=8).map("".join),
        ),
        max_size=80,
    )
)
def test_the_registry_check_answers_as_the_validator_and_a_set_say(lines: list[str]) -> None:
    """Each line: its E.164 and yes/no by membership when it parses, its reason otherwise."""
    from numcheck.checks.base import Failure
    from numcheck.checks.registry import RegistryCheck
    from numcheck.numbers.compiled import validator

    lines = [line.replace("\n", "") for line in lines]
    hasher = KeyedHasher(b"k" * 32)
    members = {A, C, *(line for line in lines[::2] if line.startswith("+4915"))}
    snapshot = Snapshot(np.unique(hasher.digests(sorted(members))))
    check = RegistryCheck(
        "htx",
        version=1,
        version_id=1,
        entries=len(members),
        snapshot=lambda: snapshot,
        hasher=hasher,
    )
    batch = validator.shared().describe_lines(lines, None, classify=False)
    expected = [
        (e164, "yes" if e164 in members else "no") if reason is None else Failure(reason)
        for e164, reason in zip(batch.e164, batch.reasons, strict=True)
    ]
    assert check.check_batch(lines, None).outcomes == expected
