"""Compile the installed `phonenumbers` metadata into lookup tables (built once, cached on disk).

What is compiled, per calling code: the national-number patterns of every type and the
leading-digit patterns of every region sharing the code, as one digit automaton whose final
state, with the number's length, decides (valid, type, region) exactly as `number_type`,
`is_valid_number` and `region_code_for_number` would; plus longest-prefix tries for carrier
names and time zones. The cache is keyed by the phonenumbers version, so upgrading the library
rebuilds it.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumberType, timezone
from phonenumbers.carrierdata import CARRIER_DATA, CARRIER_LONGEST_PREFIX
from phonenumbers.tzdata import TIMEZONE_DATA, TIMEZONE_LONGEST_PREFIX

from numcheck.numbers.compiled import internals
from numcheck.numbers.compiled.automaton import Regex, build_automaton

FORMAT_VERSION = 1
MAX_NSN = internals.MAX_LENGTH_FOR_NSN  # 17
PAD = 10  # the digit code of padding: every automaton stays where it is

_DESCS = (
    "general_desc",
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
    "mobile",
)
_SPECIAL_TYPES = (
    ("premium_rate", PhoneNumberType.PREMIUM_RATE),
    ("toll_free", PhoneNumberType.TOLL_FREE),
    ("shared_cost", PhoneNumberType.SHARED_COST),
    ("voip", PhoneNumberType.VOIP),
    ("personal_number", PhoneNumberType.PERSONAL_NUMBER),
    ("pager", PhoneNumberType.PAGER),
    ("uan", PhoneNumberType.UAN),
    ("voicemail", PhoneNumberType.VOICEMAIL),
)
TYPE_NAMES = {
    getattr(PhoneNumberType, name): name.lower() for name in dir(PhoneNumberType) if name.isupper()
}


@dataclass
class Tables:
    """Everything the vectorized validator needs; arrays plus small Python lookups."""

    transitions: np.ndarray  # int32 [states, 11]: next state per digit; column 10 = padding
    outcome_of: np.ndarray  # int32 [states, MAX_NSN + 1]: outcome index per (state, length)
    outcomes: list[tuple[bool, int, str]]  # (valid, PhoneNumberType, region)
    start: dict[int, int]  # calling code -> start state
    cc_prefix: dict[str, tuple[int, int]]  # 3 leading digits -> (calling code, its length)
    strip_first_digits: dict[int, str]  # calling code -> digits a national prefix may start with
    carrier_trie: np.ndarray  # int32 [nodes, 11]
    carrier_value: np.ndarray  # int32 [nodes]: index into carrier_names or -1
    carrier_names: list[str]
    tz_trie: np.ndarray
    tz_value: np.ndarray
    tz_names: list[str]  # time zones joined with ';'
    country_tz: dict[int, int]  # calling code -> index into tz_names (country-level lookup)
    geo_mobile_countries: frozenset[int]


def _metadata(cc: int, region: str) -> PhoneMetadata | None:
    return PhoneMetadata.metadata_for_region_or_calling_code(cc, region)


def _type_helper(
    meta: PhoneMetadata, region_patterns: dict[str, int], accepted: frozenset[int], length: int
) -> int:
    """phonenumbers' _number_type_helper, with pattern matches read from the automaton."""

    def matches(desc_name: str) -> bool:
        desc = getattr(meta, desc_name)
        if desc is None:
            return False
        if desc.possible_length and length not in desc.possible_length:
            return False
        index = region_patterns.get(desc_name)
        return index is not None and index in accepted

    if not matches("general_desc"):
        return PhoneNumberType.UNKNOWN
    for desc_name, number_type in _SPECIAL_TYPES:
        if matches(desc_name):
            return number_type
    if matches("fixed_line"):
        if meta.same_mobile_and_fixed_line_pattern or matches("mobile"):
            return PhoneNumberType.FIXED_LINE_OR_MOBILE
        return PhoneNumberType.FIXED_LINE
    if not meta.same_mobile_and_fixed_line_pattern and matches("mobile"):
        return PhoneNumberType.MOBILE
    return PhoneNumberType.UNKNOWN


def _classify(
    cc: int,
    regions: tuple[str, ...],
    patterns: dict[str, dict[str, int]],
    leading: dict[str, int],
    accepted: frozenset[int],
    length: int,
) -> tuple[bool, int, str]:
    """region_code_for_number, number_type and is_valid_number for one automaton outcome."""
    region: str | None
    if len(regions) == 1:
        region = regions[0]
    else:
        region = None
        for candidate in regions:
            meta = PhoneMetadata.metadata_for_region(candidate.upper(), None)
            if meta is None:
                continue
            if meta.leading_digits is not None:
                if leading[candidate] in accepted:
                    region = candidate
                    break
            elif (
                _type_helper(meta, patterns[candidate], accepted, length) != PhoneNumberType.UNKNOWN
            ):
                region = candidate
                break
    meta = _metadata(cc, region) if region is not None else None
    if meta is None:
        return (False, PhoneNumberType.UNKNOWN, region or "")
    number_type = _type_helper(meta, patterns[region], accepted, length)  # type: ignore[index]
    return (number_type != PhoneNumberType.UNKNOWN, number_type, region)  # type: ignore[return-value]


def _compile_calling_codes(regex: Regex):  # type: ignore[no-untyped-def]
    transitions: list[list[int]] = []
    outcome_rows: list[list[int]] = []
    outcomes: list[tuple[bool, int, str]] = []
    outcome_index: dict[tuple[bool, int, str], int] = {}
    start: dict[int, int] = {}
    strip_first_digits: dict[int, str] = {}
    for cc in sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE):
        regions = tuple(phonenumbers.COUNTRY_CODE_TO_REGION_CODE[cc])
        nodes: list[int] = []
        patterns: dict[str, dict[str, int]] = {}
        leading: dict[str, int] = {}
        for region in regions:
            meta = _metadata(cc, region)
            if meta is None:
                continue
            patterns[region] = {}
            for desc_name in _DESCS:
                desc = getattr(meta, desc_name)
                if desc is not None and desc.national_number_pattern:
                    patterns[region][desc_name] = len(nodes)
                    nodes.append(regex.parse(desc.national_number_pattern))
            if meta.leading_digits is not None:
                leading[region] = len(nodes)
                nodes.append(regex.cat(regex.parse(meta.leading_digits), regex.ANY_STAR))
        local_transitions, accepted = build_automaton(regex, nodes)
        base = len(transitions)
        start[cc] = base + 1
        for state, row in enumerate(local_transitions):
            transitions.append([base + target for target in row] + [base + state])
            outcome_row = []
            for length in range(MAX_NSN + 1):
                outcome = _classify(cc, regions, patterns, leading, accepted[state], length)
                if outcome not in outcome_index:
                    outcome_index[outcome] = len(outcomes)
                    outcomes.append(outcome)
                outcome_row.append(outcome_index[outcome])
            outcome_rows.append(outcome_row)
        main = _metadata(cc, regions[0])
        if main is not None and main.national_prefix_for_parsing:
            try:
                prefix = regex.parse(main.national_prefix_for_parsing)
            except ValueError:  # anchors and the like: any first digit may start a prefix
                prefix = regex.EPS
            if regex.nullable(prefix):
                strip_first_digits[cc] = "0123456789"
            else:
                strip_first_digits[cc] = "".join(
                    str(d) for d in range(10) if regex.derive(prefix, d) != regex.EMPTY
                )
    return transitions, outcome_rows, outcomes, start, strip_first_digits


def _cc_prefixes() -> dict[str, tuple[int, int]]:
    """_extract_country_code for every 3-digit start: the shortest known code wins."""
    table = {}
    for value in range(1000):
        digits = f"{value:03d}"
        if digits[0] == "0":
            continue
        for length in (1, 2, 3):
            cc = int(digits[:length])
            if cc in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
                table[digits] = (cc, length)
                break
    return table


def _trie(entries: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """A digit trie (node 0 dead, node 1 root) with a value index (or -1) on each node."""
    children: list[list[int]] = [[0] * 11, [0] * 11]
    values = [-1, -1]
    for prefix, value in entries.items():
        node = 1
        for ch in prefix:
            digit = ord(ch) - 48
            if children[node][digit] == 0:
                children.append([0] * 11)
                values.append(-1)
                children[node][digit] = len(children) - 1
            node = children[node][digit]
        values[node] = value
    return np.asarray(children, dtype=np.int32), np.asarray(values, dtype=np.int32)


def _carrier_entries() -> tuple[dict[str, int], list[str]]:
    """Prefix -> English carrier name, as _find_lang resolves it (prefixes without one drop out)."""
    names: list[str] = []
    index: dict[str, int] = {}
    entries = {}
    for prefix, by_language in CARRIER_DATA.items():
        name = internals.find_lang(by_language, "en", None, None)
        if name is None:
            continue
        if name not in index:
            index[name] = len(names)
            names.append(name)
        entries[prefix] = index[name]
    return entries, names


def build() -> Tables:
    regex = Regex()
    transitions, outcome_rows, outcomes, start, strip_first_digits = _compile_calling_codes(regex)
    carrier_entries, carrier_names = _carrier_entries()
    tz_names: list[str] = []
    tz_index: dict[str, int] = {}

    def tz_id(zones: tuple[str, ...]) -> int:
        joined = ";".join(zones)
        if joined not in tz_index:
            tz_index[joined] = len(tz_names)
            tz_names.append(joined)
        return tz_index[joined]

    tz_entries = {prefix: tz_id(zones) for prefix, zones in TIMEZONE_DATA.items()}
    tz_id((timezone.UNKNOWN_TIMEZONE,))
    country_tz = {
        cc: tz_id(internals.country_level_time_zones(phonenumbers.PhoneNumber(country_code=cc)))
        for cc in start
    }
    carrier_trie, carrier_value = _trie(carrier_entries)
    tz_trie, tz_value = _trie(tz_entries)
    assert max(map(len, CARRIER_DATA)) <= CARRIER_LONGEST_PREFIX
    assert max(map(len, TIMEZONE_DATA)) <= TIMEZONE_LONGEST_PREFIX
    return Tables(
        transitions=np.asarray(transitions, dtype=np.int32),
        outcome_of=np.asarray(outcome_rows, dtype=np.int32),
        outcomes=outcomes,
        start=start,
        cc_prefix=_cc_prefixes(),
        strip_first_digits=strip_first_digits,
        carrier_trie=carrier_trie,
        carrier_value=carrier_value,
        carrier_names=carrier_names,
        tz_trie=tz_trie,
        tz_value=tz_value,
        tz_names=tz_names,
        country_tz=country_tz,
        geo_mobile_countries=frozenset(
            cc
            for cc in start
            if phonenumbers.is_number_type_geographical(PhoneNumberType.MOBILE, cc)
        ),
    )


# -- the on-disk cache ---------------------------------------------------------------------

_ARRAYS = ("transitions", "outcome_of", "carrier_trie", "carrier_value", "tz_trie", "tz_value")


def cache_path(cache_dir: Path) -> Path:
    return cache_dir / f"validator-phonenumbers-{phonenumbers.__version__}-v{FORMAT_VERSION}.npz"


def save(tables: Tables, path: Path) -> None:
    facts = {
        "outcomes": tables.outcomes,
        "start": list(tables.start.items()),
        "cc_prefix": tables.cc_prefix,
        "strip_first_digits": list(tables.strip_first_digits.items()),
        "carrier_names": tables.carrier_names,
        "tz_names": tables.tz_names,
        "country_tz": list(tables.country_tz.items()),
        "geo_mobile_countries": sorted(tables.geo_mobile_countries),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(
                handle,
                facts=np.frombuffer(json.dumps(facts).encode(), dtype=np.uint8),
                **{name: getattr(tables, name) for name in _ARRAYS},
            )
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def load_file(path: Path) -> Tables:
    with np.load(path, allow_pickle=False) as data:
        facts = json.loads(data["facts"].tobytes())
        arrays = {name: data[name] for name in _ARRAYS}
    return Tables(
        outcomes=[(bool(v), int(t), str(r)) for v, t, r in facts["outcomes"]],
        start={int(k): int(v) for k, v in facts["start"]},
        cc_prefix={k: (int(v[0]), int(v[1])) for k, v in facts["cc_prefix"].items()},
        strip_first_digits={int(k): v for k, v in facts["strip_first_digits"]},
        carrier_names=facts["carrier_names"],
        tz_names=facts["tz_names"],
        country_tz={int(k): int(v) for k, v in facts["country_tz"]},
        geo_mobile_countries=frozenset(facts["geo_mobile_countries"]),
        **arrays,
    )


def load(cache_dir: Path) -> Tables:
    """The tables for the installed phonenumbers: from the cache, or built and cached."""
    path = cache_path(cache_dir)
    try:
        return load_file(path)
    except (OSError, ValueError, KeyError):
        pass  # missing, or written by something else: build afresh
    tables = build()
    try:
        save(tables, path)
    except OSError:
        pass  # a read-only cache dir only costs a rebuild next time
    return tables


# The types name_for_number looks carriers up for, asked of the library rather than copied.
CARRIER_TYPES = frozenset(t for t in TYPE_NAMES if internals.is_carrier_type(t))
