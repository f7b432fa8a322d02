"""A ZIP writer for entries assembled from deflate streams compressed elsewhere.

Each chunk of a task compresses its own result rows in the worker that checks it (raw deflate,
sync-flushed, so the streams can be laid end to end); the finalize then only concatenates them
into the zip entry, closes the stream with an empty final block and combines the chunks'
CRC-32s, as pigz does, instead of compressing the whole file again in one process. The standard
library's `zipfile` compresses what it is given, so the few bytes of format are written here:
local headers, ZIP64 sizes (results of any size), the central directory.

The chunks' segments are deflated by ISA-L (`isal`, Intel's igzip: the same raw deflate format,
about four times zlib's speed at level 1 on result rows, and a slightly better ratio); a chunk's
deflate was over a quarter of its CPU with zlib.
"""

from __future__ import annotations

import struct
import time
import zlib
from dataclasses import dataclass
from typing import BinaryIO

from isal import isal_zlib

LEVEL = 1  # fast: result rows repeat a lot and compress well even so
_FINAL_EMPTY_BLOCK = b"\x03\x00"  # a fixed-Huffman block with BFINAL set and no symbols
_ZIP64 = 45  # the version needed to extract ZIP64 entries
STORED, DEFLATED = 0, 8  # an entry's compression method
_MAX_32 = 0xFFFFFFFF


def deflate_segment(data: bytes) -> bytes:
    """`data` as a raw deflate segment that another can follow: sync-flushed, not final."""
    compressor = isal_zlib.compressobj(LEVEL, isal_zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush(isal_zlib.Z_SYNC_FLUSH)


@dataclass(frozen=True)
class Segment:
    """A deflate segment and what its plain bytes were: their CRC-32 and length."""

    deflated: bytes
    crc: int
    size: int

    @classmethod
    def of(cls, data: bytes) -> Segment:
        return cls(deflate_segment(data), isal_zlib.crc32(data), len(data))


def crc32_combine(crc1: int, crc2: int, len2: int) -> int:
    """The CRC-32 of A+B from crc(A), crc(B) and len(B), as zlib's crc32_combine computes it:
    crc(A) is carried through len(B) zero bytes by GF(2) operators (one per set bit of len(B),
    each the square of the one before) and crc(B) is added."""
    power = 0
    while len2:
        if len2 & 1:
            crc1 = _gf2_times(_zero_bytes_operator(power), crc1)
        len2 >>= 1
        power += 1
    return crc1 ^ crc2


_ZERO_BYTES: list[list[int]] = []  # [k]: the operator that appends 2**k zero bytes


def _zero_bytes_operator(power: int) -> list[int]:
    if not _ZERO_BYTES:
        one_bit = [0xEDB88320] + [1 << n for n in range(31)]  # the CRC-32 polynomial, reflected
        _ZERO_BYTES.append(_gf2_square(_gf2_square(_gf2_square(one_bit))))  # eight zero bits
    while len(_ZERO_BYTES) <= power:
        _ZERO_BYTES.append(_gf2_square(_ZERO_BYTES[-1]))
    return _ZERO_BYTES[power]


def _gf2_times(matrix: list[int], vector: int) -> int:
    total, row = 0, 0
    while vector:
        if vector & 1:
            total ^= matrix[row]
        vector >>= 1
        row += 1
    return total


def _gf2_square(matrix: list[int]) -> list[int]:
    return [_gf2_times(matrix, matrix[n]) for n in range(32)]


@dataclass
class _Entry:
    name: bytes
    offset: int
    method: int = DEFLATED
    crc: int = 0
    size: int = 0
    compressed: int = 0


class ZipWriter:
    """Write entries one after another to a seekable file, then `close()` for the directory.

    Every entry is deflated, or stored as it is (data compressed already: an XLSX workbook), and
    carries ZIP64 sizes, so no entry or archive size is too large.
    """

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._entries: list[_Entry] = []
        self._open: _Entry | None = None
        self._compressor: zlib._Compress | None = None
        self._dos_time, self._dos_date = _dos_timestamp(time.localtime())

    def begin(self, name: str, *, stored: bool = False) -> None:
        """Start an entry; then `write`, `append` (deflated entries), and `end`."""
        assert self._open is None, "end() the previous entry first"
        entry = _Entry(name.encode("ascii"), self._out.tell(), STORED if stored else DEFLATED)
        self._out.write(self._local_header(entry))
        self._open = entry

    def write(self, data: bytes) -> None:
        """Plain bytes, compressed here (or stored as they are)."""
        entry = self._current()
        if entry.method == STORED:
            self._emit(entry, data)
        else:
            if self._compressor is None:
                self._compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, -15)
            self._emit(entry, self._compressor.compress(data))
        entry.crc = zlib.crc32(data, entry.crc)
        entry.size += len(data)

    def append(self, segment: Segment) -> None:
        """A segment compressed elsewhere, laid after what is written so far."""
        entry = self._current()
        assert entry.method == DEFLATED, "segments go into deflated entries"
        self._flush_compressor(entry)
        self._emit(entry, segment.deflated)
        entry.crc = crc32_combine(entry.crc, segment.crc, segment.size)
        entry.size += segment.size

    def end(self) -> None:
        """Close the entry's deflate stream and fill in its header."""
        entry = self._current()
        if entry.method == DEFLATED:
            self._flush_compressor(entry)
            self._emit(entry, _FINAL_EMPTY_BLOCK)
        after = self._out.tell()
        self._out.seek(entry.offset)
        self._out.write(self._local_header(entry))
        self._out.seek(after)
        self._entries.append(entry)
        self._open = None

    def close(self) -> None:
        """Write the central directory and the (ZIP64) end records."""
        assert self._open is None, "end() the last entry first"
        start = self._out.tell()
        for entry in self._entries:
            self._out.write(self._central_header(entry))
        end = self._out.tell()
        count, size = len(self._entries), end - start
        self._out.write(
            struct.pack(
                "<IQHHIIQQQQ", 0x06064B50, 44, _ZIP64, _ZIP64, 0, 0, count, count, size, start
            )
        )
        self._out.write(struct.pack("<IIQI", 0x07064B50, 0, end, 1))
        # The classic record too, with the real figures where they fit (-1 sends readers to the
        # ZIP64 record above).
        short = min(count, 0xFFFF)
        self._out.write(
            struct.pack(
                "<IHHHHIIH",
                0x06054B50,
                0,
                0,
                short,
                short,
                min(size, _MAX_32),
                min(start, _MAX_32),
                0,
            )
        )

    def _current(self) -> _Entry:
        assert self._open is not None, "begin() an entry first"
        return self._open

    def _emit(self, entry: _Entry, data: bytes) -> None:
        self._out.write(data)
        entry.compressed += len(data)

    def _flush_compressor(self, entry: _Entry) -> None:
        if self._compressor is not None:
            self._emit(entry, self._compressor.flush(zlib.Z_SYNC_FLUSH))
            self._compressor = None

    def _local_header(self, entry: _Entry) -> bytes:
        zip64 = struct.pack("<HHQQ", 0x0001, 16, entry.size, entry.compressed)
        return (
            struct.pack(
                "<IHHHHHIIIHH",
                0x04034B50,
                _ZIP64,
                0,  # flags
                entry.method,
                self._dos_time,
                self._dos_date,
                entry.crc,
                _MAX_32,
                _MAX_32,
                len(entry.name),
                len(zip64),
            )
            + entry.name
            + zip64
        )

    def _central_header(self, entry: _Entry) -> bytes:
        zip64 = struct.pack("<HHQQQ", 0x0001, 24, entry.size, entry.compressed, entry.offset)
        return (
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                (3 << 8) | _ZIP64,  # made by: Unix
                _ZIP64,
                0,
                entry.method,
                self._dos_time,
                self._dos_date,
                entry.crc,
                _MAX_32,
                _MAX_32,
                len(entry.name),
                len(zip64),
                0,  # comment
                0,  # disk
                0,  # internal attributes
                (0o100600 << 16),  # a regular file, owner read/write
                _MAX_32,
            )
            + entry.name
            + zip64
        )


def _dos_timestamp(moment: time.struct_time) -> tuple[int, int]:
    dos_time = (moment.tm_hour << 11) | (moment.tm_min << 5) | (moment.tm_sec // 2)
    dos_date = ((max(moment.tm_year, 1980) - 1980) << 9) | (moment.tm_mon << 5) | moment.tm_mday
    return dos_time, dos_date
