"""format_number(NATIONAL) and format_number(INTERNATIONAL), compiled into templates of slices.

phonenumbers formats a national significant number with the first number format of the calling
code's main region whose last leading-digits pattern matches the start of the number and whose
pattern matches all of it, and rewrites it with `re.sub(pattern, format, number)`: for NATIONAL
with the format's national-prefix formatting rule folded into its first group, for
INTERNATIONAL from the region's `intl_number_format` list when it has one. A number no format
matches is written as it is. (Extensions and carrier codes never occur here.)

Which format applies is read from the calling code's automaton, to which tables.py adds every
rule's patterns (`Rule`, `choose`). The rewrite is compiled here: libphonenumber's format
patterns are runs of groups of single-digit classes with bounded repeats, so for one length the
groups' boundaries are fixed and formatting is slicing. A template is the byte layout of one
(rule, length) — for each output byte, the digit of the national number it copies or the
literal byte it is — and a whole batch is rendered with one numpy gather. A (rule, length)
whose boundaries cannot be proven from the pattern alone (none in the current metadata) is
rendered through `re.sub` per number, exactly as phonenumbers does it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from numcheck.numbers.compiled.internals import FIRST_GROUP_PATTERN, sre_parse
from numcheck.numbers.compiled.internals import sre_constants as sre

LITERAL = -1  # a template byte that is literal text, not a digit of the number


@dataclass(frozen=True)
class Rule:
    """One number format as format_number applies it for one of the two formats."""

    pattern: str
    leading: str | None  # the last leading-digits pattern (the most detailed), if any
    template: str  # the replacement re.sub gets


def rules_for(metadata) -> tuple[list[Rule], list[Rule]]:  # type: ignore[no-untyped-def]
    """The NATIONAL and the INTERNATIONAL rules of a main region's metadata, in trial order."""
    national = [
        Rule(f.pattern, _last(f.leading_digits_pattern), _national_template(f))
        for f in metadata.number_format
    ]
    international_formats = metadata.intl_number_format or metadata.number_format
    international = [
        Rule(f.pattern, _last(f.leading_digits_pattern), f.format) for f in international_formats
    ]
    return national, international


def _last(patterns: Sequence[str]) -> str | None:
    return patterns[-1] if patterns else None


def _national_template(number_format) -> str:  # type: ignore[no-untyped-def]
    # _format_nsn_using_pattern, NATIONAL without a carrier code: the national-prefix
    # formatting rule replaces the first group reference of the format.
    rule = number_format.national_prefix_formatting_rule
    if not rule:
        return str(number_format.format)
    return str(FIRST_GROUP_PATTERN.sub(rule, number_format.format, count=1))


def choose(rules: list[Rule], nodes: list[tuple[int | None, int]], accepted: frozenset[int]) -> int:
    """_choose_formatting_pattern_for_number from an automaton state: the first rule whose
    leading digits match the start and whose pattern matches all digits read, or -1.

    `nodes[i]` are the automaton pattern indexes of rule i: (leading digits then anything, or
    None; the pattern).
    """
    for i, (leading, pattern) in enumerate(nodes):
        if (leading is None or leading in accepted) and pattern in accepted:
            return i
    return -1


# -- the rewrite as slices ------------------------------------------------------------------------


def group_bounds(pattern: str, length: int) -> dict[int, tuple[int, int]] | None:
    """Where each capturing group of `pattern` lies when it fully matches `length` digits, as
    re.sub finds it, or None when that is not fixed by the length alone.

    The pattern must be a sequence of single-character classes with greedy bounded repeats,
    grouped by non-nested groups. Python's matcher then tries the repeat counts in
    lexicographically decreasing order; when exactly one count vector adds up to `length`, it is
    the largest one whose sum does not exceed `length`, so a number that fully matches is
    matched by it, in full, at position 0 — and re.sub rewrites nothing else (the pattern
    cannot match the empty string).
    """
    atoms = _pattern_atoms(pattern)
    if atoms is None or sum(low for low, _, _ in atoms) == 0:
        return None
    vectors = _count_vectors([(low, high) for low, high, _ in atoms], length, limit=2)
    if len(vectors) != 1:
        return None
    bounds: dict[int, tuple[int, int]] = {}
    position = 0
    for (_, _, group), count in zip(atoms, vectors[0], strict=True):
        if group is not None:
            start, _ = bounds.get(group, (position, position))
            bounds[group] = (start, position + count)
        position += count
    return bounds


def matchable_lengths(pattern: str) -> set[int] | None:
    """The lengths (up to 17) `pattern` can fully match, or None if it is not of the shape
    group_bounds analyses."""
    atoms = _pattern_atoms(pattern)
    if atoms is None:
        return None
    ranges = [(low, high) for low, high, _ in atoms]
    return {n for n in range(1, 18) if _count_vectors(ranges, n, limit=1)}


@functools.lru_cache(maxsize=4096)
def _pattern_atoms(pattern: str) -> tuple[tuple[int, int, int | None], ...] | None:
    atoms = _atoms(sre_parse.parse(pattern), group=None)
    return None if atoms is None else tuple(atoms)


def _atoms(items, group: int | None) -> list[tuple[int, int, int | None]] | None:  # type: ignore[no-untyped-def]
    """(low, high, capturing group) of each single-character item, or None if not that shape."""
    atoms: list[tuple[int, int, int | None]] = []
    for op, av in items:
        if op in (sre.LITERAL, sre.IN):
            atoms.append((1, 1, group))
        elif op == sre.MAX_REPEAT and len(av[2]) == 1 and av[2][0][0] in (sre.LITERAL, sre.IN):
            low, high = av[0], av[1]
            atoms.append((low, 10**6 if high == sre.MAXREPEAT else high, group))
        elif op == sre.SUBPATTERN:
            inner_group = av[0]
            if inner_group is not None and group is not None:
                return None  # nested capturing groups
            inner = _atoms(av[3], inner_group if inner_group is not None else group)
            if inner is None:
                return None
            atoms += inner
        else:
            return None
    return atoms


def _count_vectors(ranges: list[tuple[int, int]], total: int, limit: int) -> list[tuple[int, ...]]:
    """Up to `limit` count vectors within `ranges` adding up to `total`."""
    found: list[tuple[int, ...]] = []
    minimum_after = [sum(low for low, _ in ranges[i:]) for i in range(len(ranges) + 1)]

    def walk(i: int, left: int, counts: tuple[int, ...]) -> None:
        if len(found) >= limit:
            return
        if i == len(ranges):
            if left == 0:
                found.append(counts)
            return
        low, high = ranges[i]
        for count in range(min(high, left - minimum_after[i + 1]), low - 1, -1):
            walk(i + 1, left - count, (*counts, count))

    walk(0, total, ())
    return found


def template_pieces(template: str) -> list[str | int] | None:
    """A re.sub replacement as literal text and group numbers, or None beyond plain `\\1`-`\\9`."""
    pieces: list[str | int] = []
    i = 0
    while i < len(template):
        ch = template[i]
        if ch != "\\":
            pieces.append(ch)
            i += 1
            continue
        ref = template[i + 1 : i + 2]
        after = template[i + 2 : i + 3]
        if not ("1" <= ref <= "9") or after.isdigit():
            return None  # escapes, \0, \g<...> and two-digit references: leave them to re
        pieces.append(int(ref))
        i += 2
    return pieces


def layout(rule: Rule, length: int, prefix: str = "") -> list[tuple[int, int]] | None:
    """The (digit index or LITERAL, literal byte) of every output byte of `rule` for a number
    of `length` digits, after `prefix`; None when only re.sub can tell."""
    bounds = group_bounds(rule.pattern, length)
    pieces = template_pieces(rule.template)
    if (
        bounds is None
        or pieces is None
        or any(isinstance(p, int) and p not in bounds for p in pieces)
    ):
        return None
    result = literal_layout(prefix)
    for piece in pieces:
        if isinstance(piece, int):
            start, end = bounds[piece]
            result += [(index, 0) for index in range(start, end)]
        else:
            result += literal_layout(piece)
    return result


def literal_layout(text: str) -> list[tuple[int, int]]:
    return [(LITERAL, byte) for byte in text.encode()]


def digits_layout(length: int, prefix: str = "") -> list[tuple[int, int]]:
    """The national number as it is, after `prefix` (no format matched)."""
    return literal_layout(prefix) + [(index, 0) for index in range(length)]


class TemplateSet:
    """Distinct layouts, numbered, as the dense arrays `render` reads."""

    def __init__(self) -> None:
        self._ids: dict[tuple[tuple[int, int], ...], int] = {}
        self.layouts: list[tuple[tuple[int, int], ...]] = []

    def add(self, layout_bytes: list[tuple[int, int]]) -> int:
        key = tuple(layout_bytes)
        found = self._ids.get(key)
        if found is None:
            found = self._ids[key] = len(self.layouts)
            self.layouts.append(key)
        return found

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(source uint8 [T, W], literal uint8 [T, W], length int32 [T]).

        Each template ends with a newline; past it both rows are 0. `source` holds 1 + the
        digit index for a copied digit and 0 for literal text, `literal` the byte for literal
        text and 0 for a copied digit: see `render`.
        """
        width = max(map(len, self.layouts)) + 1
        source = np.zeros((len(self.layouts), width), dtype=np.uint8)
        literal = np.zeros((len(self.layouts), width), dtype=np.uint8)
        for t, items in enumerate(self.layouts):
            for k, (index, byte) in enumerate((*items, (LITERAL, 10))):
                if index == LITERAL:
                    literal[t, k] = byte
                else:
                    source[t, k] = index + 1
        lengths = np.array([len(items) + 1 for items in self.layouts], dtype=np.int32)
        return source, literal, lengths


def render(
    digits: np.ndarray,
    columns: list[np.ndarray],
    source: np.ndarray,
    literal: np.ndarray,
    lengths: np.ndarray,
) -> list[list[str]]:
    """The texts of each column of template ids over the rows of `digits` (uint8 [rows, w]:
    0-9, anything past a number).

    Every row's digits go after a zero byte, so that one gather copies a digit where the
    template has one and a zero where it has literal text; OR-ing the literal bytes in completes
    the text, newline included. Dropping the zero padding, one decode and one split then give
    all the strings.
    """
    rows, digit_width = digits.shape
    if rows == 0:
        return [[] for _ in columns]
    templates = np.concatenate(columns)
    width = int(lengths[templates].max())
    padded = np.zeros((rows, digit_width + 1), dtype=np.uint8)
    padded[:, 1:] = digits + np.uint8(48)
    row_start = np.tile(np.arange(rows, dtype=np.int32) * (digit_width + 1), len(columns))
    picks = np.take(source[:, :width], templates, axis=0) + row_start[:, None]
    text = np.take(padded.ravel(), picks)
    text |= np.take(literal[:, :width], templates, axis=0)
    strings = text.tobytes().translate(None, b"\0").decode().split("\n")
    return [strings[k * rows : (k + 1) * rows] for k in range(len(columns))]


def rewrite(rule_pattern: str, template: str, national: str) -> str:
    """phonenumbers' own rewrite, for a (rule, length) without a proven layout."""
    return re.sub(rule_pattern, template, national)
