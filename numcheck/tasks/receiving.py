"""Receiving an upload whose shaping fields may come before or after the file.

`curl -F file=@x.csv -F column=phone` sends the field after the file, yet the field decides how
the file reads. So the raw bytes are spooled to an anonymous temporary file as they arrive (the
size limit holds as they do), and read once the body has ended and every field is known.

Reading twice would cost a text file's whole intake again, so a text upload is also read while
it streams, under the fields sent before it. When the body ends with the same reading options,
that reading is kept; when a later field changed them, it is dropped and the spool is read
again. Errors of that first reading that a later field could cure (no such column, no column
looks like numbers, ...) wait until the options are known; errors of the bytes themselves
(too large, not text, corrupt gzip) stop the upload at once. A workbook (XLSX) can only be
read whole: it is read from the spool at the end.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from numcheck import csvinput, errors, numbers, xlsxinput
from numcheck.storage.blobs import BlobStore
from numcheck.tasks.intake import GZIP_ALLOWANCE, Limits, PendingUpload

_READ_STEP = 1 << 20
_HEAD_BYTES = 4
# Errors of the bytes as sent: no field can change them.
_BYTE_ERRORS = (errors.FileTooLarge, errors.BinaryFile, errors.UndecodableFile)


@dataclass(frozen=True)
class ReadOptions:
    """The fields that shape how an upload reads, as sent (checked by `of`)."""

    filename: str = ""
    column: str | None = None
    id_column: str | None = None
    default_region: str | None = None
    delimiter: str | None = None
    sheet: str | None = None

    @classmethod
    def of(cls, fields: dict[str, str], filename: str) -> ReadOptions:
        return cls(
            filename=filename,
            column=fields.get("column") or None,
            id_column=fields.get("id_column") or None,
            default_region=numbers.default_region(fields.get("default_region")),
            delimiter=csvinput.delimiter_named(fields.get("delimiter")),
            sheet=fields.get("sheet") or None,
        )

    @classmethod
    def tolerant(cls, fields: dict[str, str], filename: str) -> ReadOptions | None:
        """The options of the fields sent so far, or None when one is invalid (it is refused
        when the body has ended, whatever comes after it)."""
        try:
            return cls.of(fields, filename)
        except errors.InvalidRequest:
            return None

    def csv_input(self) -> csvinput.CsvToCanonical:
        return csvinput.for_file(
            self.filename,
            column=self.column,
            id_column=self.id_column,
            default_region=self.default_region,
            delimiter=self.delimiter,
        )


class UploadReceiver:
    """The multipart sink for the file part: spool, and read ahead where it can."""

    def __init__(
        self,
        blobs: BlobStore,
        limits: Limits,
        spool_dir: Path,
        fields_before: dict[str, str],
        filename: str,
    ) -> None:
        self.sha256 = hashlib.sha256()  # of the bytes as uploaded, for Idempotency-Key
        self._blobs = blobs
        self._limits = limits
        self._filename = filename
        spool_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Anonymous: gone when closed or when the process dies, never a stray file.
        self._spool: IO[bytes] = tempfile.TemporaryFile(dir=spool_dir)  # noqa: SIM115
        self._received = 0
        self._head = b""
        self._ahead_options = ReadOptions.tolerant(fields_before, filename)
        self._ahead: PendingUpload | None = None
        self._ahead_error: errors.NumcheckError | None = None
        self._workbook = False

    def feed(self, data: bytes) -> None:
        self._received += len(data)
        if self._received > self._limits.max_bytes:
            raise errors.FileTooLarge(
                f"The file is over the limit of {self._limits.max_bytes} bytes."
            )
        self.sha256.update(data)
        self._spool.write(data)
        if len(self._head) < _HEAD_BYTES:
            self._head += data[: _HEAD_BYTES - len(self._head)]
            if len(self._head) < _HEAD_BYTES:
                return
            self._start_reading_ahead()
            data = self._spooled_so_far()  # the read-ahead starts with the first byte
        self._read_ahead(data)

    def _spooled_so_far(self) -> bytes:
        self._spool.seek(0)
        data = self._spool.read()
        self._spool.seek(0, 2)
        return data

    def _start_reading_ahead(self) -> None:
        xlsxinput.refuse_old_excel(self._head)
        self._workbook = xlsxinput.is_zip(self._head)
        if not self._workbook and self._ahead_options is not None:
            self._ahead = PendingUpload(self._blobs, self._limits, self._ahead_options.csv_input())

    def _read_ahead(self, data: bytes) -> None:
        if self._ahead is None:
            return
        try:
            self._ahead.feed(data)
        except _BYTE_ERRORS:
            raise
        except errors.NumcheckError as exc:  # a later field may cure it: decide at the end
            self._ahead_error = exc
            self._drop_ahead()

    def _drop_ahead(self) -> None:
        if self._ahead is not None:
            self._ahead.discard()
            self._ahead = None

    def finish(self, fields: dict[str, str]) -> PendingUpload:
        """The upload read under every field sent: its intake finished, its blob written."""
        options = ReadOptions.of(fields, self._filename)
        if self._workbook:
            return self._read_workbook(options)
        if options.sheet is not None:
            raise errors.InvalidRequest("The 'sheet' field is for XLSX files; this file is text.")
        if options == self._ahead_options:
            if self._ahead_error is not None:
                raise self._ahead_error
            if self._ahead is not None or len(self._head) < _HEAD_BYTES:
                return self._finish_ahead(options)
        self._drop_ahead()
        upload = PendingUpload(self._blobs, self._limits, options.csv_input())
        self._read_spool_into(upload)
        return upload

    def _finish_ahead(self, options: ReadOptions) -> PendingUpload:
        if self._ahead is None:  # fewer bytes than a head: the read-ahead never started
            self._ahead = PendingUpload(self._blobs, self._limits, options.csv_input())
            self._ahead.feed(self._head)
        upload, self._ahead = self._ahead, None
        try:
            upload.finish()
        except BaseException:
            upload.discard()
            raise
        return upload

    def _read_spool_into(self, upload: PendingUpload) -> None:
        try:
            self._spool.seek(0)
            while piece := self._spool.read(_READ_STEP):
                upload.feed(piece)
            upload.finish()
        except BaseException:
            upload.discard()
            raise

    def _read_workbook(self, options: ReadOptions) -> PendingUpload:
        limit = max(GZIP_ALLOWANCE, self._limits.max_gzip_ratio * self._received)
        xlsxinput.check_unpacked_size(self._spool, limit)
        csv_options = csvinput.CsvToCanonical(
            options.column, options.id_column, options.default_region, ","
        )
        upload = PendingUpload(self._blobs, self._limits, csv_options)
        try:
            for block in xlsxinput.rows_as_csv(self._spool, options.sheet):
                upload.feed(block)
            upload.finish()
        except BaseException:
            upload.discard()
            raise
        return upload

    def close(self) -> None:
        """Drop the spool and any read-ahead (the kept upload is the caller's)."""
        self._drop_ahead()
        self._spool.close()
