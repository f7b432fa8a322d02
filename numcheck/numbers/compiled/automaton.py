"""Regular expressions over the digits 0-9, turned into deterministic automata.

libphonenumber's patterns use only digits, classes, alternation and bounded repeats, so they
are regular languages over ten symbols. Brzozowski derivatives build the automaton directly:
a state is a tuple of live (pattern, remaining-expression) pairs, and equal remainders are the
same state whichever branch produced them, which keeps the automata close to minimal.

Expressions are interned as small integers (`Regex.node`), so that derivatives can be memoised
cheaply.
"""

from __future__ import annotations

from typing import Any

from numcheck.numbers.compiled.internals import sre_constants as sre
from numcheck.numbers.compiled.internals import sre_parse

ALL_DIGITS = (1 << 10) - 1

# Node kinds.
_EMPTY, _EPS, _SET, _CAT, _ALT, _STAR = range(6)


class Regex:
    """An interning factory of expression nodes, with derivative and nullability."""

    def __init__(self) -> None:
        self._nodes: list[tuple[Any, ...]] = []
        self._ids: dict[tuple[Any, ...], int] = {}
        self._deriv: dict[tuple[int, int], int] = {}
        self._nullable: list[bool] = []
        self.EMPTY = self._intern((_EMPTY,), False)
        self.EPS = self._intern((_EPS,), True)
        self.ANY_STAR = self.star(self.digits(ALL_DIGITS))

    def _intern(self, node: tuple[Any, ...], nullable: bool) -> int:
        found = self._ids.get(node)
        if found is not None:
            return found
        self._nodes.append(node)
        self._nullable.append(nullable)
        self._ids[node] = len(self._nodes) - 1
        return len(self._nodes) - 1

    # -- constructors (normalising) ----------------------------------------------------------

    def digits(self, mask: int) -> int:
        return self.EMPTY if mask == 0 else self._intern((_SET, mask), False)

    def cat(self, a: int, b: int) -> int:
        if a == self.EMPTY or b == self.EMPTY:
            return self.EMPTY
        if a == self.EPS:
            return b
        if b == self.EPS:
            return a
        node = self._nodes[a]
        if node[0] == _CAT:  # keep concatenations right-nested
            return self.cat(node[1], self.cat(node[2], b))
        return self._intern((_CAT, a, b), self._nullable[a] and self._nullable[b])

    def alt(self, items: list[int] | tuple[int, ...]) -> int:
        flat: set[int] = set()
        mask = 0
        for item in items:
            node = self._nodes[item]
            if node[0] == _EMPTY:
                continue
            if node[0] == _ALT:
                flat.update(node[1])
            else:
                flat.add(item)
        # Merge single-digit sets into one class.
        for item in [i for i in flat if self._nodes[i][0] == _SET]:
            mask |= self._nodes[item][1]
            flat.discard(item)
        if mask:
            flat.add(self.digits(mask))
        if not flat:
            return self.EMPTY
        if len(flat) == 1:
            return next(iter(flat))
        members = tuple(sorted(flat))
        return self._intern((_ALT, members), any(self._nullable[i] for i in members))

    def star(self, a: int) -> int:
        if a in (self.EMPTY, self.EPS):
            return self.EPS
        if self._nodes[a][0] == _STAR:
            return a
        return self._intern((_STAR, a), True)

    def optional(self, a: int) -> int:
        return self.alt((a, self.EPS))

    def repeat(self, a: int, low: int, high: int | None) -> int:
        if high is None:
            tail = self.star(a)
        else:
            tail = self.EPS
            for _ in range(high - low):
                tail = self.optional(self.cat(a, tail))
        for _ in range(low):
            tail = self.cat(a, tail)
        return tail

    # -- queries -----------------------------------------------------------------------------

    def nullable(self, a: int) -> bool:
        return self._nullable[a]

    def derive(self, a: int, digit: int) -> int:
        key = (a, digit)
        found = self._deriv.get(key)
        if found is not None:
            return found
        node = self._nodes[a]
        kind = node[0]
        if kind in (_EMPTY, _EPS):
            result = self.EMPTY
        elif kind == _SET:
            result = self.EPS if node[1] >> digit & 1 else self.EMPTY
        elif kind == _CAT:
            head = self.cat(self.derive(node[1], digit), node[2])
            if self._nullable[node[1]]:
                result = self.alt((head, self.derive(node[2], digit)))
            else:
                result = head
        elif kind == _ALT:
            result = self.alt([self.derive(i, digit) for i in node[1]])
        else:  # _STAR
            result = self.cat(self.derive(node[1], digit), a)
        self._deriv[key] = result
        return result

    # -- parsing -----------------------------------------------------------------------------

    def parse(self, pattern: str) -> int:
        """The node of a libphonenumber pattern (digits, classes, groups, |, repeats)."""
        return self._from_sre(sre_parse.parse(pattern))

    def _from_sre(self, sub) -> int:  # type: ignore[no-untyped-def]
        result = self.EPS
        for op, av in reversed(list(sub)):
            result = self.cat(self._item(op, av), result)
        return result

    def _item(self, op, av) -> int:  # type: ignore[no-untyped-def]
        if op == sre.LITERAL:
            return self.digits(_digit_mask(av, av))
        if op == sre.IN:
            mask = 0
            negate = False
            for kind, value in av:
                if kind == sre.LITERAL:
                    mask |= _digit_mask(value, value)
                elif kind == sre.RANGE:
                    mask |= _digit_mask(*value)
                elif kind == sre.CATEGORY and value == sre.CATEGORY_DIGIT:
                    mask |= ALL_DIGITS
                elif kind == sre.NEGATE:
                    negate = True
                else:
                    raise ValueError(f"unsupported class item {kind}")
            return self.digits(ALL_DIGITS & ~mask if negate else mask)
        if op == sre.BRANCH:
            return self.alt([self._from_sre(branch) for branch in av[1]])
        if op == sre.SUBPATTERN:
            return self._from_sre(av[3])
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
            low, high, inner = av
            return self.repeat(self._from_sre(inner), low, None if high == sre.MAXREPEAT else high)
        if op == sre.ANY:
            return self.digits(ALL_DIGITS)
        raise ValueError(f"unsupported pattern element {op}")


def _digit_mask(low: int, high: int) -> int:
    """The digits among the code points low..high (other characters never occur in input)."""
    mask = 0
    for code in range(max(low, 48), min(high, 57) + 1):
        mask |= 1 << (code - 48)
    return mask


def build_automaton(
    regex: Regex, patterns: list[int], max_states: int = 2_000_000
) -> tuple[list[list[int]], list[frozenset[int]]]:
    """Subset-free DFA over 0-9 recognising all `patterns` at once.

    Returns (transitions, accepted): transitions[s][d] is the next state (0 is the dead state),
    accepted[s] the indexes of the patterns that match exactly the digits read to reach s.
    """
    dead: tuple[Any, ...] = ()
    start = tuple((i, p) for i, p in enumerate(patterns) if p != regex.EMPTY)
    ids: dict[tuple[Any, ...], int] = {dead: 0, start: 1}
    states: list[tuple[Any, ...]] = [dead, start]
    transitions: list[list[int]] = []
    steps: dict[int, tuple[int, ...]] = {}  # node -> its derivative by each digit
    index = 0
    while index < len(states):
        state = states[index]
        row = []
        derived = []
        for _, node in state:
            step = steps.get(node)
            if step is None:
                step = steps[node] = tuple(regex.derive(node, digit) for digit in range(10))
            derived.append(step)
        for digit in range(10):
            following = tuple(
                [
                    (i, step[digit])
                    for (i, _), step in zip(state, derived, strict=True)
                    if step[digit] != regex.EMPTY
                ]
            )
            target = ids.get(following)
            if target is None:
                target = ids[following] = len(states)
                states.append(following)
                if len(states) > max_states:
                    raise RuntimeError("automaton too large")
            row.append(target)
        transitions.append(row)
        index += 1
    accepted = [frozenset(i for i, node in state if regex.nullable(node)) for state in states]
    return transitions, accepted
