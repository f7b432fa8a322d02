"""Loading a registry file into a new version: stream, normalize, hash, sort, publish.

Numbers are normalized exactly as checks normalize them (the compiled validator: E.164 from
phonenumbers.parse) and hashed a batch at a time. Lines that are already E.164 (most of a
registry file) are found and hashed in the file's bytes (`plainlines`), without a Python string
each; the others go through `describe_lines`. Only digests are spooled, to anonymous temporary
files, so no plaintext number is written anywhere. The spool keeps digests in 16 buckets by
their top bits, sorted one bucket at a time and written out in order: memory holds a sixteenth
of the entries, not all of them; `add` and `remove` read the current version a bucket at a
time from its memory-mapped snapshot.

A registry whose current version is of the older digest (BLAKE2b-64) is hashed both ways while
it loads: a `replace` publishes the current digest, an `add` or `remove` combines with the old
one in the old digest (nothing can be re-hashed: no number is kept).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy.orm import Session

from numcheck import errors
from numcheck.csvinput import CsvToCanonical
from numcheck.numbers.compiled import validator
from numcheck.numbers.compiled.validator import CompiledValidator
from numcheck.registries import versions
from numcheck.registries.hashing import SIPHASH, KeyedHasher
from numcheck.registries.keys import registry_key
from numcheck.registries.plainlines import PlainLines
from numcheck.registries.spool import BUCKETS, DigestSpool, bucket_bounds, distinct_sorted
from numcheck.storage.blobs import BlobStore
from numcheck.storage.models import RegistryVersion
from numcheck.storage.stores import Stores
from numcheck.textlines import LineIndex, LineSplitter

MODES = ("replace", "add", "remove")
_FIRST_INVALID = 20
_BATCH_LINES = 100_000
_PIECE_LINES = 16_384
_MAX_LINE_CHARS = 4096  # CSV rows may carry other columns


@dataclass
class LoadReport:
    name: str
    version: int = 0
    mode: str = "replace"
    entries: int = 0  # numbers in the new version
    numbers: int = 0  # valid numbers read from the file (duplicates included)
    duplicates: int = 0  # valid numbers that repeat an earlier line of the file
    invalid: int = 0
    invalid_lines: list[int] = field(default_factory=list)  # the first 20 line numbers
    source_sha256: str = ""


class RegistryLoad:
    """Push the bytes of a file: one number a line, or a CSV file read as task uploads are
    (the same reader: header rule, column named or found)."""

    def __init__(
        self,
        validator: CompiledValidator,
        hashers: Sequence[KeyedHasher],
        *,
        csv_input: CsvToCanonical | None = None,
        default_region: str | None = None,
    ) -> None:
        self._validator = validator
        # One spool per digest asked for: the current one first.
        self._spools = {hasher.digest: (hasher, DigestSpool()) for hasher in hashers}
        self.key_check = hashers[0].key_check
        self._csv = csv_input
        self._region = default_region
        self._splitter = LineSplitter(_MAX_LINE_CHARS)
        self._sha = hashlib.sha256()
        self._pending: list[tuple[int, str]] = []  # lines for describe_lines, numbered
        self._plain_lines = PlainLines(validator.t)
        self._plain_rows: list[np.ndarray] = []  # lines already in E.164, as rows of bytes
        self._plain_count = 0
        self._line_no = 0  # physical lines read so far
        self.report = LoadReport(name="")

    def feed(self, data: bytes) -> None:
        self._sha.update(data)
        self._take(self._splitter.feed_block(data))

    def _take(self, block: LineIndex) -> None:
        if self._csv is not None:  # canonical lines: a number each, as many as went in
            block = self._csv.take_lines(block)
        self._read(block)

    def _read(self, block: LineIndex) -> None:
        others = self._take_plain(block)
        numbers = (others + self._line_no + 1).tolist()  # 1-based line numbers of the file
        self._pending += zip(numbers, block.texts(others), strict=True)
        self._line_no += block.count
        if len(self._pending) + self._plain_count >= _BATCH_LINES:
            self._flush()

    def _take_plain(self, block: LineIndex) -> np.ndarray:
        """Keep the lines already in E.164 (as rows of bytes); the other non-blank lines'
        indices, for `describe_lines`."""
        ends = block.ends
        if len(ends) == 0:
            return ends
        starts = np.concatenate(([0], ends[:-1] + 1))
        lengths = ends - starts
        plain = np.empty(len(ends), dtype=bool)
        kept = 0
        # Pieces of lines whose arrays stay in the CPU cache: twice as fast as a whole block.
        for at in range(0, len(ends), _PIECE_LINES):
            piece = slice(at, at + _PIECE_LINES)
            rows = self._plain_lines.rows(block.block, starts[piece], lengths[piece])
            plain[piece] = self._plain_lines.plain(rows, lengths[piece])
            self._plain_rows.append(rows[plain[piece]])
            kept += len(self._plain_rows[-1])
        self._plain_count += kept
        if kept == len(ends):
            return np.zeros(0, dtype=np.int64)
        others: np.ndarray = block.nonblank
        declined: np.ndarray = others[~plain[others]]
        return declined

    def _flush(self) -> None:
        report = self.report
        if self._plain_rows:
            rows = np.concatenate(self._plain_rows)
            report.numbers += len(rows)
            for hasher, spool in self._spools.values():
                spool.add(hasher.digests_of_rows(rows))
            self._plain_rows, self._plain_count = [], 0
        if not self._pending:
            return
        texts = [text for _, text in self._pending]
        batch = self._validator.describe_lines(texts, self._region, classify=False)
        numbers = []
        for (line_no, _), reason, e164 in zip(
            self._pending, batch.reasons, batch.e164, strict=True
        ):
            if reason is None and e164 is not None:
                numbers.append(e164)
            else:
                report.invalid += 1
                if len(report.invalid_lines) < _FIRST_INVALID:
                    report.invalid_lines.append(line_no)
        report.numbers += len(numbers)
        for hasher, spool in self._spools.values():
            spool.add(hasher.digests(numbers))
        self._pending = []

    def finish(self) -> None:
        """Finish reading; each spool sorted and de-duplicated, duplicates counted."""
        self._take(self._splitter.finish_block())
        if self._csv is not None:
            self._read(LineIndex(self._csv.finish()))
        self._flush()
        self.report.source_sha256 = self._sha.hexdigest()
        for _, spool in self._spools.values():
            spool.sort()
        spool = next(iter(self._spools.values()))[1]
        self.report.duplicates = spool.added - spool.distinct

    def spool(self, digest: str) -> DigestSpool | None:
        """The file's digests of kind `digest`, if they were computed."""
        found = self._spools.get(digest)
        return found[1] if found else None

    def discard(self) -> None:
        for _, spool in self._spools.values():
            spool.close()


def start(
    stores: Stores, name: str, *, csv_input: CsvToCanonical | None, default_region: str | None
) -> RegistryLoad:
    """A load of registry `name` with this process's validator and the registry key: hashed
    with the current digest, and also with the old one while `name` is still of it."""
    hasher = KeyedHasher(registry_key(stores.settings))
    hashers = [hasher]
    with stores.sessions.begin() as session:
        current = versions.current(session, name)
        if current is not None and current.digest != hasher.digest:
            hashers.append(hasher.with_digest(current.digest))
    return RegistryLoad(
        validator.shared(), hashers, csv_input=csv_input, default_region=default_region
    )


def _previous(blobs: BlobStore, version: RegistryVersion | None) -> np.ndarray:
    """The current version's digests, memory-mapped (read a bucket at a time, not held)."""
    if version is None:
        return np.zeros(0, dtype="<u8")
    path = blobs.local_path(versions.snapshot_key(version.name, version.version))
    if path.stat().st_size == 0:
        return np.zeros(0, dtype="<u8")
    return np.memmap(path, dtype="<u8", mode="r")


def _combined(mode: str, spool: DigestSpool, previous: np.ndarray) -> Iterator[np.ndarray]:
    """The new version's digests, bucket by bucket, in order."""
    bounds = bucket_bounds(previous).tolist()
    for bucket, digests in enumerate(spool.buckets()):
        before = previous[bounds[bucket] : bounds[bucket + 1]]
        if mode == "replace":
            yield digests
        elif mode == "add":
            yield distinct_sorted(np.sort(np.concatenate([before, digests])))
        else:
            yield np.setdiff1d(before, digests, assume_unique=True)
    assert bucket == BUCKETS - 1


def publish(
    stores: Stores,
    name: str,
    mode: str,
    load: RegistryLoad,
    *,
    record: Callable[[Session, LoadReport], None],
    new_key: bool = False,
) -> LoadReport:
    """Combine the loaded digests with the current version per `mode` and publish the result.

    Loads of one registry run one at a time: the current version is read, combined and
    succeeded inside one transaction holding the registry's lock, so two concurrent `add`s
    neither lose an update nor collide on a version number. `record` is called in that same
    transaction (the audit entry commits with the load, or neither does). `new_key`: the
    operator changed the registry key on purpose and reloads in full, so other registries may
    still carry the old key's hashes.
    """
    if mode not in MODES:
        raise errors.InvalidRequest("mode must be replace, add or remove.")
    if new_key and mode != "replace":
        raise errors.InvalidRequest("A load under a new key replaces the registry in full.")
    load.finish()  # the file's own digests: read and sorted before any lock is taken
    report = load.report
    with stores.sessions.begin() as session:
        versions.lock_for_load(session, name)
        if not new_key:
            versions.check_key(session, load.key_check)
        current = versions.current(session, name) if mode != "replace" else None
        digest = current.digest if current is not None else SIPHASH
        spool = load.spool(digest)
        if spool is None:
            # Only a numcheck from before SipHash, loading this registry meanwhile, does this.
            raise errors.InvalidRequest(
                f"Registry {name!r} changed to older digests during this load: load again."
            )
        previous = _previous(stores.blobs, current)
        report.name, report.mode = name, mode
        version: RegistryVersion = versions.publish(
            session,
            name,
            entries=0,  # counted below, as the buckets are written
            mode=mode,
            source_sha256=report.source_sha256,
            key_check=load.key_check,
            digest=digest,
        )
        report.version = version.version
        # The snapshot is written inside the transaction: if writing fails, no row points at it.
        with stores.blobs.writer(versions.snapshot_key(name, version.version)) as out:
            for digests in _combined(mode, spool, previous):
                out.write(np.ascontiguousarray(digests, dtype="<u8").data)
                report.entries += len(digests)
        version.entries = report.entries
        record(session, report)
    versions.collect_unused(stores)
    return report
