"""Loading a registry file into a new version: stream, normalize, hash, sort, publish.

Numbers are normalized exactly as checks normalize them (the compiled validator: E.164 from
phonenumbers.parse) and hashed at once; only digests are spooled to an anonymous temporary
file, so no plaintext number is written anywhere. Memory is bounded by the number of entries
(8 bytes each, a few copies while sorting and merging), not by the size of the file.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np
from sqlalchemy.orm import Session

from numcheck import errors
from numcheck.config import Settings
from numcheck.csvinput import CsvToCanonical
from numcheck.numbers.compiled import validator
from numcheck.numbers.compiled.validator import CompiledValidator
from numcheck.registries import versions
from numcheck.registries.hashing import KeyedHasher
from numcheck.registries.keys import registry_key
from numcheck.storage.blobs import BlobStore
from numcheck.storage.models import RegistryVersion
from numcheck.storage.stores import Stores
from numcheck.textlines import LineIndex, LineSplitter

MODES = ("replace", "add", "remove")
_FIRST_INVALID = 20
_BATCH_LINES = 100_000
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
        hasher: KeyedHasher,
        *,
        csv_input: CsvToCanonical | None = None,
        default_region: str | None = None,
    ) -> None:
        self._validator = validator
        self._hasher = hasher
        self._csv = csv_input
        self._region = default_region
        self._splitter = LineSplitter(_MAX_LINE_CHARS)
        self._sha = hashlib.sha256()
        self._pending: list[tuple[int, str]] = []
        self._line_no = 0  # physical lines read so far
        # Digests only; gone when closed (by `digests` or `discard`), whoever calls which.
        self._spool: BinaryIO = tempfile.TemporaryFile()  # noqa: SIM115
        self.report = LoadReport(name="")

    def feed(self, data: bytes) -> None:
        self._sha.update(data)
        self._take(self._splitter.feed_block(data))

    def _take(self, block: LineIndex) -> None:
        if self._csv is not None:  # canonical lines: a number each, as many as went in
            block = LineIndex(self._csv.take(block))
        self._read(block)

    def _read(self, block: LineIndex) -> None:
        rows = block.nonblank
        numbers = (rows + self._line_no + 1).tolist()  # 1-based line numbers of the file
        self._pending += zip(numbers, block.texts(rows), strict=True)
        self._line_no += block.count
        if len(self._pending) >= _BATCH_LINES:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        texts = [text for _, text in self._pending]
        batch = self._validator.describe_lines(texts, self._region, classify=False)
        report = self.report
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
        self._spool.write(self._hasher.digests(numbers).tobytes())
        self._pending = []

    def digests(self) -> np.ndarray:
        """Finish reading; the file's distinct digests, sorted."""
        self._take(self._splitter.finish_block())
        if self._csv is not None:
            self._read(LineIndex(self._csv.finish()))
        self._flush()
        self.report.source_sha256 = self._sha.hexdigest()
        self._spool.seek(0)
        digests = np.fromfile(self._spool, dtype="<u8")
        self._spool.close()
        digests.sort()
        distinct = _distinct_sorted(digests)
        self.report.duplicates = len(digests) - len(distinct)
        return distinct

    @property
    def key_check(self) -> str:
        return self._hasher.key_check

    def discard(self) -> None:
        self._spool.close()


def start(
    settings: Settings, *, csv_input: CsvToCanonical | None, default_region: str | None
) -> RegistryLoad:
    """A load with this process's validator and the registry key."""
    return RegistryLoad(
        validator.shared(),
        KeyedHasher(registry_key(settings)),
        csv_input=csv_input,
        default_region=default_region,
    )


def _distinct_sorted(digests: np.ndarray) -> np.ndarray:
    if len(digests) == 0:
        return digests
    keep = np.empty(len(digests), dtype=bool)
    keep[0] = True
    np.not_equal(digests[1:], digests[:-1], out=keep[1:])
    return digests[keep]


def _previous(session: Session, blobs: BlobStore, name: str) -> np.ndarray:
    version = versions.current(session, name)
    if version is None:
        return np.zeros(0, dtype="<u8")
    with blobs.open(versions.snapshot_key(name, version.version)) as handle:
        return np.frombuffer(handle.read(), dtype="<u8")


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
    digests = load.digests()  # the file's own: read and sorted before any lock is taken
    report = load.report
    with stores.sessions.begin() as session:
        versions.lock_for_load(session, name)
        if not new_key:
            versions.check_key(session, load.key_check)
        if mode == "add":
            previous = _previous(session, stores.blobs, name)
            digests = _distinct_sorted(np.sort(np.concatenate([previous, digests])))
        elif mode == "remove":
            previous = _previous(session, stores.blobs, name)
            digests = np.setdiff1d(previous, digests, assume_unique=True)
        report.name, report.mode, report.entries = name, mode, len(digests)
        version: RegistryVersion = versions.publish(
            session,
            name,
            entries=len(digests),
            mode=mode,
            source_sha256=report.source_sha256,
            key_check=load.key_check,
        )
        report.version = version.version
        # The snapshot is written inside the transaction: if writing fails, no row points at it.
        with stores.blobs.writer(versions.snapshot_key(name, version.version)) as out:
            out.write(np.ascontiguousarray(digests, dtype="<u8").data)
        record(session, report)
    versions.collect_unused(stores)
    return report
