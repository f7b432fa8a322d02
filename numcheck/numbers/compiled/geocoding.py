"""The geocoder's data compiled: region names and a longest-prefix trie of area descriptions.

`phonenumbers.geodata` holds ~290,000 prefixes with names in many languages; importing it takes
~0.5 s and ~100 MB per process. numcheck reads it once per phonenumbers version, in a child
process, into numpy files in the validator cache dir (a digit trie, the English names as one
UTF-8 blob, the display name of every region), and each worker maps those files read-only
(`mmap_mode="r"`), so the page cache holds one copy for all of them. Nothing is built or mapped
until a `validate` batch asks for a location or a country.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import phonenumbers

from numcheck.numbers.compiled import internals
from numcheck.numbers.compiled.cachefiles import is_complete, read_directory, write_directory

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
LANGUAGE = "en"
_BUILD_TIMEOUT_SECONDS = 600  # ~3 s normally; a hung child must not hold every worker forever
_ARRAYS = ("trie", "value", "names", "offsets")


def cache_path(cache_dir: Path) -> Path:
    return cache_dir / f"geocoding-phonenumbers-{phonenumbers.__version__}-v{FORMAT_VERSION}"


# -- building (in a child process: the geodata stays out of the workers) ------------------------


def build_into(directory: Path) -> None:
    """Compile phonenumbers' geodata into `directory` (written whole, then renamed into place)."""
    from phonenumbers.geodata import GEOCODE_DATA

    names: list[str] = []
    index: dict[str, int] = {}
    entries: dict[str, int] = {}
    for prefix, by_language in GEOCODE_DATA.items():
        # _prefix_description_for_number skips a prefix without a name in the language.
        name = internals.find_lang(by_language, LANGUAGE, None, None)
        if name is None:
            continue
        found = index.get(name)
        if found is None:
            found = index[name] = len(names)
            names.append(name)
        entries[prefix] = found
    trie, value = digit_trie(entries)
    encoded = [name.encode() for name in names]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(b) for b in encoded])
    regions = {r for rs in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.values() for r in rs}
    facts = {
        "countries": {
            region: internals.region_display_name(region, LANGUAGE)
            for region in sorted(regions | {"ZZ"})
        },
    }
    arrays = {
        "trie": trie,
        "value": value,
        "names": np.frombuffer(b"".join(encoded), dtype=np.uint8),
        "offsets": offsets,
    }
    write_directory(directory, arrays, facts)


def digit_trie(entries: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """A digit trie (node 0 dead, node 1 root; column 10, padding, leads to the dead node) with
    the value of each node's prefix, or -1."""
    ids = {"": 1}
    for prefix in sorted(entries):
        for end in range(1, len(prefix) + 1):
            ids.setdefault(prefix[:end], len(ids) + 1)
    trie = np.zeros((len(ids) + 1, 11), dtype=np.int32)
    value = np.full(len(ids) + 1, -1, dtype=np.int32)
    for prefix, node in ids.items():
        if prefix:
            trie[ids[prefix[:-1]], ord(prefix[-1]) - 48] = node
    for prefix, entry in entries.items():
        value[ids[prefix]] = entry
    return trie, value


def longest_prefix(trie: np.ndarray, values: np.ndarray, digits: np.ndarray) -> np.ndarray:
    """The value of the longest prefix present in the trie, or -1, for each row of digits."""
    node = np.ones(len(digits), dtype=np.int64)
    best = np.full(len(digits), -1, dtype=np.int64)
    flat = trie.ravel()
    for column in np.asfortranarray(digits).T:
        node = np.take(flat, node * trie.shape[1] + column)
        found = np.take(values, node)
        best = np.where(found >= 0, found, best)
        if not node.any():
            break
    return best


# -- loading ----------------------------------------------------------------------------------


class Geocoder:
    """Area descriptions by longest prefix and region display names, from the mapped files."""

    def __init__(self, arrays: dict[str, np.ndarray], facts: dict[str, Any]) -> None:
        self._trie = arrays["trie"]
        self._value = arrays["value"]
        self._names = arrays["names"]
        self._offsets = arrays["offsets"]
        self._countries: dict[str, str] = facts["countries"]
        self._decoded: dict[int, str] = {-1: ""}

    @classmethod
    def open(cls, cache_dir: Path) -> Geocoder:
        """The geocoder of the installed phonenumbers, built first if the cache has none."""
        directory = cache_path(cache_dir)
        try:
            if not is_complete(directory):
                with _exclusive(cache_dir):
                    if not is_complete(directory):
                        _build_in_child(directory)
            return cls(*read_directory(directory, _ARRAYS))
        except OSError:
            # No cache to be had (an unwritable dir, a failed build): build here, in memory,
            # which costs this process the geodata but still answers.
            log.warning("geocoding tables could not be cached in %s; built in memory", cache_dir)
            with tempfile.TemporaryDirectory() as tmp:
                build_into(Path(tmp) / "geocoding")
                arrays, facts = read_directory(Path(tmp) / "geocoding", _ARRAYS)
                return cls({name: np.array(a) for name, a in arrays.items()}, facts)

    def country_name(self, region: str) -> str:
        """_region_display_name of a region code ("" for none)."""
        return self._countries.get(region, "") if region else ""

    def areas(self, digits: np.ndarray) -> np.ndarray:
        """The name index of the longest prefix of each row of digits (0-9, 10 pads), or -1."""
        return longest_prefix(self._trie, self._value, digits)

    def names(self, indexes: np.ndarray) -> np.ndarray:
        """The names of name indexes (-1 gives ""), as an object array."""
        unique, inverse = np.unique(indexes, return_inverse=True)
        texts = []
        for i in unique.tolist():
            text = self._decoded.get(i)
            if text is None:
                start, end = int(self._offsets[i]), int(self._offsets[i + 1])
                text = self._decoded[i] = self._names[start:end].tobytes().decode()
            texts.append(text)
        return np.array(texts, dtype=object)[inverse.reshape(-1)]


@contextlib.contextmanager
def _exclusive(cache_dir: Path) -> Iterator[None]:
    """One builder at a time across processes (the others wait, then find the files)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # no flock: two processes may build; the rename keeps one result
        yield
        return
    with open(cache_dir / "geocoding.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build_in_child(directory: Path) -> None:
    """Build in a child interpreter, so that this process never holds the geodata."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    try:
        result = subprocess.run(
            [sys.executable, "-m", "numcheck.numbers.compiled.geocoding", str(directory)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=_BUILD_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired:
        log.warning("building the geocoding tables took over %d s; gave up", _BUILD_TIMEOUT_SECONDS)
        return
    if result.returncode != 0:
        # The child reads only phonenumbers' own data: its traceback holds no customer number.
        log.warning("building the geocoding tables failed: %s", result.stderr[-2000:])


if __name__ == "__main__":
    build_into(Path(sys.argv[1]))
