"""Compile the installed `phonenumbers` metadata into lookup tables (built once, cached on disk).

What is compiled, per calling code: the national-number patterns of every type, the
leading-digit patterns of every region sharing the code and the patterns of every number
format of its main region, as one digit automaton. Its final state, with the number's length,
decides (valid, type, region, country) exactly as `is_valid_number`, `number_type`,
`region_code_for_number` and `country_name_for_number` would, and which format
`format_number` picks (formats.py turns each format into slicing templates). Plus: possible
length reasons per (code, length), and longest-prefix tries for carrier names and time zones.
The geocoder's data is compiled separately, on first need (geocoding.py). The cache is keyed by
the phonenumbers version, so upgrading the library rebuilds it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumberType

from numcheck.numbers.compiled import formats, internals
from numcheck.numbers.compiled.automaton import Regex, build_automaton
from numcheck.numbers.compiled.cachefiles import read_directory, write_directory
from numcheck.numbers.compiled.geocoding import digit_trie
from numcheck.numbers.reference import INVALID_REASONS

FORMAT_VERSION = 2
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
# The `reason` column's words; index 0: none (the number is valid).
REASONS = ("", *INVALID_REASONS.values())

Outcome = tuple[bool, int, str, str]  # (valid, PhoneNumberType, region, country's region or "")


@dataclass
class Tables:
    """Everything the vectorized validator needs; arrays plus small Python lookups."""

    transitions: np.ndarray  # int32 [states, 11]: next state per digit; column 10 = padding
    outcome_of: np.ndarray  # int32 [states, MAX_NSN + 1]: outcome index per (state, length)
    national_rule: np.ndarray  # int32 [states]: the NATIONAL format rule chosen, -1 for none
    international_rule: np.ndarray  # int32 [states]: the same for INTERNATIONAL
    rule_template: np.ndarray  # int32 [rules, MAX_NSN + 1]: template per length, -1: re.sub
    plain_national: np.ndarray  # int32 [MAX_NSN + 1]: template of the bare national number
    plain_international: np.ndarray  # int32 [1000, MAX_NSN + 1]: "+cc " and the number
    template_source: np.ndarray  # int8 [templates, width]: digit index or formats.LITERAL
    template_literal: np.ndarray  # uint8 [templates, width]
    template_length: np.ndarray  # int32 [templates]
    reason_of: np.ndarray  # int8 [1000, MAX_NSN + 1]: index into REASONS of a non-valid number
    carrier_trie: np.ndarray  # int32 [nodes, 11]
    carrier_value: np.ndarray  # int32 [nodes]: index into carrier_names or -1
    tz_trie: np.ndarray
    tz_value: np.ndarray
    outcomes: list[Outcome]
    rules: list[tuple[str, str]]  # (pattern, re.sub template) of each format rule
    start: dict[int, int]  # calling code -> start state
    cc_prefix: dict[str, tuple[int, int]]  # 3 leading digits -> (calling code, its length)
    strip_first_digits: dict[int, str]  # calling code -> digits a national prefix may start with
    carrier_names: list[str]
    carrier_types: list[int]  # the types carrier.name_for_number looks carriers up for
    tz_names: list[str]  # time zones joined with ';'
    unknown_tz: int  # index into tz_names of the "unknown" answer
    country_tz: dict[int, int]  # calling code -> index into tz_names (country-level lookup)
    geo_mobile_countries: list[int]  # codes whose mobile numbers are geographic
    mobile_tokens: dict[int, str]  # calling code -> country_mobile_token (Argentina's 9)


_ARRAYS = tuple(f.name for f in fields(Tables) if f.type == "np.ndarray")


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
) -> Outcome:
    """region_code_for_number, number_type, is_valid_number and the region whose name
    country_name_for_number gives, for one automaton outcome."""
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
    country = _country_region(cc, regions, patterns, accepted, length)
    meta = _metadata(cc, region) if region is not None else None
    if meta is None:
        return (False, PhoneNumberType.UNKNOWN, region or "", country)
    number_type = _type_helper(meta, patterns[region], accepted, length)  # type: ignore[index]
    return (number_type != PhoneNumberType.UNKNOWN, number_type, region, country)  # type: ignore[return-value]


def _country_region(
    cc: int,
    regions: tuple[str, ...],
    patterns: dict[str, dict[str, int]],
    accepted: frozenset[int],
    length: int,
) -> str:
    """country_name_for_number's region: the code's only region, else the one region the number
    is valid for ("ZZ" for none, "" for several: no name)."""
    if len(regions) == 1:
        return regions[0]
    found = "ZZ"
    for candidate in regions:
        meta = _metadata(cc, candidate.upper())
        if meta is None:
            continue  # is_valid_number_for_region: no metadata, not valid
        if _type_helper(meta, patterns[candidate], accepted, length) != PhoneNumberType.UNKNOWN:
            if found != "ZZ":
                return ""
            found = candidate
    return found


@dataclass
class _Compiled:
    transitions: list[list[int]]
    outcome_rows: list[list[int]]
    national_rule: list[int]
    international_rule: list[int]
    outcomes: list[Outcome]
    rules: list[formats.Rule]
    rules_cc: list[int]
    rules_international: list[bool]
    start: dict[int, int]
    strip_first_digits: dict[int, str]


def _compile_calling_codes(regex: Regex) -> _Compiled:
    out = _Compiled([], [], [], [], [], [], [], [], {}, {})
    outcome_index: dict[Outcome, int] = {}
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
        main = _metadata(cc, regions[0])
        national, international = formats.rules_for(main) if main is not None else ([], [])
        national_nodes = _rule_nodes(regex, national, nodes)
        international_nodes = _rule_nodes(regex, international, nodes)
        national_base = len(out.rules)
        international_base = national_base + len(national)
        out.rules += national + international
        out.rules_cc += [cc] * (len(national) + len(international))
        out.rules_international += [False] * len(national) + [True] * len(international)

        local_transitions, accepted = build_automaton(regex, nodes)
        base = len(out.transitions)
        out.start[cc] = base + 1
        memo: dict[tuple[frozenset[int], int], int] = {}
        for state, row in enumerate(local_transitions):
            out.transitions.append([base + target for target in row] + [base + state])
            outcome_row = []
            for length in range(MAX_NSN + 1):
                key = (accepted[state], length)
                if key not in memo:
                    outcome = _classify(cc, regions, patterns, leading, accepted[state], length)
                    if outcome not in outcome_index:
                        outcome_index[outcome] = len(out.outcomes)
                        out.outcomes.append(outcome)
                    memo[key] = outcome_index[outcome]
                outcome_row.append(memo[key])
            out.outcome_rows.append(outcome_row)
            chosen = formats.choose(national, national_nodes, accepted[state])
            out.national_rule.append(-1 if chosen < 0 else national_base + chosen)
            chosen = formats.choose(international, international_nodes, accepted[state])
            out.international_rule.append(-1 if chosen < 0 else international_base + chosen)
        if main is not None and main.national_prefix_for_parsing:
            out.strip_first_digits[cc] = _national_prefix_first_digits(
                regex, main.national_prefix_for_parsing
            )
    return out


def _rule_nodes(
    regex: Regex, rules: list[formats.Rule], nodes: list[int]
) -> list[tuple[int | None, int]]:
    """Add each rule's patterns to the automaton's: (leading digits then anything, pattern)."""
    indexes: list[tuple[int | None, int]] = []
    for rule in rules:
        leading = None
        if rule.leading is not None:
            leading = len(nodes)
            nodes.append(regex.cat(regex.parse(rule.leading), regex.ANY_STAR))
        nodes.append(regex.parse(rule.pattern))
        indexes.append((leading, len(nodes) - 1))
    return indexes


def _national_prefix_first_digits(regex: Regex, national_prefix_for_parsing: str) -> str:
    try:
        prefix = regex.parse(national_prefix_for_parsing)
    except ValueError:  # anchors and the like: any first digit may start a prefix
        prefix = regex.EPS
    if regex.nullable(prefix):
        return "0123456789"
    return "".join(str(d) for d in range(10) if regex.derive(prefix, d) != regex.EMPTY)


def _templates(compiled: _Compiled) -> dict[str, np.ndarray]:
    """Every (rule, length) and plain layout as numbered templates (formats.py)."""
    templates = formats.TemplateSet()
    rule_template = np.full((len(compiled.rules), MAX_NSN + 1), -1, dtype=np.int32)
    rules = zip(compiled.rules, compiled.rules_cc, compiled.rules_international, strict=True)
    for r, (rule, cc, international) in enumerate(rules):
        prefix = f"+{cc} " if international else ""
        for length in range(1, MAX_NSN + 1):
            layout = formats.layout(rule, length, prefix)
            if layout is not None:
                rule_template[r, length] = templates.add(layout)
    plain_national = np.array(
        [templates.add(formats.digits_layout(length)) for length in range(MAX_NSN + 1)],
        dtype=np.int32,
    )
    plain_international = np.zeros((1000, MAX_NSN + 1), dtype=np.int32)
    for cc in compiled.start:
        for length in range(MAX_NSN + 1):
            plain_international[cc, length] = templates.add(
                formats.digits_layout(length, f"+{cc} ")
            )
    source, literal, lengths = templates.arrays()
    return {
        "rule_template": rule_template,
        "plain_national": plain_national,
        "plain_international": plain_international,
        "template_source": source,
        "template_literal": literal,
        "template_length": lengths,
    }


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


def _reasons(codes: list[int]) -> np.ndarray:
    """is_possible_number_with_reason per (calling code, national number length)."""
    reason_index = {result: REASONS.index(name) for result, name in INVALID_REASONS.items()}
    table = np.zeros((1000, MAX_NSN + 1), dtype=np.int8)
    for cc in codes:
        for length in range(1, MAX_NSN + 1):
            number = phonenumbers.PhoneNumber(country_code=cc, national_number=int("1" * length))
            table[cc, length] = reason_index[phonenumbers.is_possible_number_with_reason(number)]
    return table


def _carrier_entries() -> tuple[dict[str, int], list[str]]:
    """Prefix -> English carrier name, as _find_lang resolves it (prefixes without one drop out)."""
    from phonenumbers.carrierdata import CARRIER_DATA, CARRIER_LONGEST_PREFIX

    assert max(map(len, CARRIER_DATA)) <= CARRIER_LONGEST_PREFIX
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
    from phonenumbers import timezone
    from phonenumbers.tzdata import TIMEZONE_DATA, TIMEZONE_LONGEST_PREFIX

    assert max(map(len, TIMEZONE_DATA)) <= TIMEZONE_LONGEST_PREFIX
    regex = Regex()
    compiled = _compile_calling_codes(regex)
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
    unknown_tz = tz_id((timezone.UNKNOWN_TIMEZONE,))
    codes = sorted(compiled.start)
    country_tz = {
        cc: tz_id(internals.country_level_time_zones(phonenumbers.PhoneNumber(country_code=cc)))
        for cc in codes
    }
    carrier_trie, carrier_value = digit_trie(carrier_entries)
    tz_trie, tz_value = digit_trie(tz_entries)
    return Tables(
        transitions=np.asarray(compiled.transitions, dtype=np.int32),
        outcome_of=np.asarray(compiled.outcome_rows, dtype=np.int32),
        national_rule=np.asarray(compiled.national_rule, dtype=np.int32),
        international_rule=np.asarray(compiled.international_rule, dtype=np.int32),
        **_templates(compiled),
        reason_of=_reasons(codes),
        carrier_trie=carrier_trie,
        carrier_value=carrier_value,
        tz_trie=tz_trie,
        tz_value=tz_value,
        outcomes=compiled.outcomes,
        rules=[(rule.pattern, rule.template) for rule in compiled.rules],
        start=compiled.start,
        cc_prefix=_cc_prefixes(),
        strip_first_digits=compiled.strip_first_digits,
        carrier_names=carrier_names,
        carrier_types=sorted(t for t in TYPE_NAMES if internals.is_carrier_type(t)),
        tz_names=tz_names,
        unknown_tz=unknown_tz,
        country_tz=country_tz,
        geo_mobile_countries=[
            cc
            for cc in codes
            if phonenumbers.is_number_type_geographical(PhoneNumberType.MOBILE, cc)
        ],
        mobile_tokens={
            cc: token for cc in codes if (token := phonenumbers.country_mobile_token(cc))
        },
    )


# -- the on-disk cache ---------------------------------------------------------------------


def cache_path(cache_dir: Path) -> Path:
    return cache_dir / f"validator-phonenumbers-{phonenumbers.__version__}-v{FORMAT_VERSION}"


def save(tables: Tables, path: Path) -> None:
    facts = {
        f.name: getattr(tables, f.name)
        for f in fields(Tables)
        if f.name not in _ARRAYS and not isinstance(getattr(tables, f.name), dict)
    }
    facts.update(
        {
            f.name: list(getattr(tables, f.name).items())
            for f in fields(Tables)
            if isinstance(getattr(tables, f.name), dict)
        }
    )
    write_directory(path, {name: getattr(tables, name) for name in _ARRAYS}, facts)


def load_directory(path: Path) -> Tables:
    arrays, facts = read_directory(path, _ARRAYS)
    return Tables(
        **arrays,
        outcomes=[(bool(v), int(t), str(r), str(c)) for v, t, r, c in facts["outcomes"]],
        rules=[(str(p), str(t)) for p, t in facts["rules"]],
        start={int(k): int(v) for k, v in facts["start"]},
        cc_prefix={str(k): (int(v[0]), int(v[1])) for k, v in facts["cc_prefix"]},
        strip_first_digits={int(k): str(v) for k, v in facts["strip_first_digits"]},
        carrier_names=facts["carrier_names"],
        carrier_types=facts["carrier_types"],
        tz_names=facts["tz_names"],
        unknown_tz=int(facts["unknown_tz"]),
        country_tz={int(k): int(v) for k, v in facts["country_tz"]},
        geo_mobile_countries=facts["geo_mobile_countries"],
        mobile_tokens={int(k): str(v) for k, v in facts["mobile_tokens"]},
    )


def load(cache_dir: Path) -> Tables:
    """The tables for the installed phonenumbers: from the cache, or built and cached."""
    path = cache_path(cache_dir)
    try:
        return load_directory(path)
    except (OSError, ValueError, KeyError, TypeError):
        pass  # missing, or written by something else: build afresh
    tables = build()
    try:
        save(tables, path)
        return load_directory(path)  # mapped, like every other process will have them
    except OSError:
        return tables  # a read-only cache dir only costs a rebuild next time
