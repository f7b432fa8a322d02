"""Tallies of a task's answers, for people who would rather look than read: how many numbers
are valid, of which types and regions, in which registries, and why lines failed.

Each chunk tallies its own outcomes where it ran (a few C-level counts over columns it already
holds) and stores them with its counters; the task's tallies are the sum over its chunks, so
they grow while it runs and cost nothing at the end. Only columns with few distinct values are
tallied: numbers, formats, places, carriers and time zones are not.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence

# `validate`'s columns of many values; the rest (valid, type, region, reason, and every other
# check's column: a registry's yes/no) are tallied.
_UNTALLIED = frozenset({"carrier", "timezones", "national", "international", "country", "location"})
FAILURES = "failure"  # the tally of failed lines' reasons
TOP = 12  # values kept per column in an answer; the rest add up to "other"

Tallies = dict[str, dict[str, int]]


def tallied_columns(columns: Sequence[str]) -> list[tuple[str, int]]:
    """The columns worth tallying, with their positions in a result row (Number is 0)."""
    return [(name, position + 1) for position, name in enumerate(columns) if name not in _UNTALLIED]


def count(
    columns: Sequence[str], values: Sequence[Sequence[str]], reasons: Sequence[str]
) -> Tallies:
    """One chunk's tallies: per tallied column, how often each value came in its answered rows
    (`values`: their columns, Number first; none when no line was answered); and how often each
    reason came among its failed lines."""
    tallies: Tallies = {
        name: dict(Counter(values[position])) if values else {}
        for name, position in tallied_columns(columns)
    }
    if reasons:
        tallies[FAILURES] = dict(Counter(reasons))
    return tallies


def dump(tallies: Tallies) -> str:
    return json.dumps(tallies, separators=(",", ":"), sort_keys=True)


def total(stored: Iterable[str | None]) -> Tallies:
    """The sum of chunks' stored tallies (chunks not done yet have none)."""
    summed: dict[str, Counter[str]] = {}
    for text in stored:
        if not text:
            continue
        for name, values in json.loads(text).items():
            summed.setdefault(name, Counter()).update(values)
    return {name: dict(values) for name, values in summed.items()}


def top(tallies: Tallies, keep: int = TOP) -> Tallies:
    """Each column's most common values, the rest summed as "other" (a blank value is "")."""
    shown: Tallies = {}
    for name, values in tallies.items():
        ranked = sorted(values.items(), key=lambda item: (-item[1], item[0]))
        shown[name] = dict(ranked[:keep])
        rest = sum(n for _, n in ranked[keep:])
        if rest:
            shown[name]["other"] = shown[name].get("other", 0) + rest
    return shown
