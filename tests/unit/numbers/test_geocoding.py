"""The geocoder's tables: built on first need in a child process, mapped read-only, never by
the registries' path; and the prefix trie's longest-match rule."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from numcheck.numbers.compiled import geocoding, validator
from numcheck.numbers.compiled.cachefiles import read_directory, write_directory


def test_the_trie_gives_the_longest_prefix_with_a_name() -> None:
    trie, value = geocoding.digit_trie({"1": 0, "1202": 1, "120255": 2, "44": 3})
    geocoder = geocoding.Geocoder(
        {
            "trie": trie,
            "value": value,
            "names": np.frombuffer(b"NANPWashingtonWashington 55London", np.uint8),
            "offsets": np.array([0, 4, 14, 27, 33]),
        },
        {"countries": {"GB": "United Kingdom"}},
    )
    rows = ["12025551234", "12035551234", "12025", "4420", "331234"]
    digits = np.full((len(rows), 9), 10, dtype=np.uint8)
    for i, text in enumerate(rows):
        digits[i, : min(9, len(text))] = [int(d) for d in text[:9]]
    areas = geocoder.areas(digits)
    assert areas.tolist() == [2, 0, 1, 3, -1]
    assert geocoder.names(areas).tolist() == ["Washington 55", "NANP", "Washington", "London", ""]
    assert geocoder.country_name("GB") == "United Kingdom"
    assert geocoder.country_name("") == geocoder.country_name("XX") == ""


def test_table_directories_are_mapped_read_only(tmp_path: Path) -> None:
    write_directory(tmp_path / "t", {"a": np.arange(5, dtype=np.int32)}, {"k": 1})
    arrays, facts = read_directory(tmp_path / "t", ("a",))
    assert facts == {"k": 1} and arrays["a"].tolist() == [0, 1, 2, 3, 4]
    assert not arrays["a"].flags.writeable
    assert str(tmp_path / "t" / "a.npy") in Path("/proc/self/maps").read_text()
    # A second writer finding the directory in place keeps the first one's tables.
    write_directory(tmp_path / "t", {"a": np.zeros(2, dtype=np.int32)}, {"k": 2})
    assert read_directory(tmp_path / "t", ("a",))[1] == {"k": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t"]  # no staging left behind


def test_registries_never_build_or_map_the_geocoder(tmp_path: Path) -> None:
    compiled = validator.CompiledValidator(validator.shared().t, tmp_path)
    batch = compiled.describe_lines(["+12025551234", "0049 30 123456", "nope"], classify=False)
    assert batch.e164 == ["+12025551234", "+4930123456", None]
    assert batch.reasons == [None, None, "not_a_number"]
    assert batch.values.keys() == {"e164"}  # nothing else is computed
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_the_geocoder_is_built_once_on_first_need_and_then_shared(tmp_path: Path) -> None:
    first = validator.CompiledValidator(validator.shared().t, tmp_path)
    first.describe_lines(["+12025551234"])  # builds, in a child process
    tables = geocoding.cache_path(tmp_path)
    assert (tables / "facts.json").exists()
    built = (tables / "trie.npy").stat().st_mtime_ns
    second = validator.CompiledValidator(validator.shared().t, tmp_path)
    batch = second.describe_lines(["+442083612345"])
    assert batch.values["location"] == ["London"]
    assert batch.values["country"] == ["United Kingdom"]
    assert (tables / "trie.npy").stat().st_mtime_ns == built  # found, not built again
    assert str(tables / "trie.npy") in Path("/proc/self/maps").read_text()


def test_without_a_usable_cache_the_geocoder_is_built_in_memory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "a-file").write_text("")
    unusable = tmp_path / "a-file" / "cache"  # below a file: no directory can be made there
    compiled = validator.CompiledValidator(validator.shared().t, unusable)
    batch = compiled.describe_lines(["+442083612345"])
    assert batch.values["location"] == ["London"]
    assert "could not be cached" in caplog.text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


@pytest.mark.slow
def test_a_build_that_hangs_is_given_up_and_done_in_memory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(geocoding, "_BUILD_TIMEOUT_SECONDS", 0.05)
    geocoder = geocoding.Geocoder.open(tmp_path)
    assert "gave up" in caplog.text and "could not be cached" in caplog.text
    assert not (geocoding.cache_path(tmp_path) / "facts.json").exists()
    assert geocoder.country_name("DE") == "Germany"


def test_a_validate_batch_never_imports_the_geodata() -> None:
    """Workers only map the compiled files: phonenumbers.geodata (~100 MB) stays out."""
    validator.shared().describe_lines(["+12025551234"])  # the cache holds the tables now
    script = (
        "import sys\n"
        "from numcheck.checks.validate import ValidateCheck\n"
        "result = ValidateCheck().check_batch(['+442083612345', '(202) 555-1234'], 'US')\n"
        "assert result.outcomes[0][9] == 'London', result.outcomes\n"
        "print(sorted(m for m in sys.modules if m.startswith('phonenumbers.')))\n"
    )
    modules = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert "geodata" not in modules and "geocoder" not in modules
    assert "carrierdata" not in modules  # carrier names are compiled too
