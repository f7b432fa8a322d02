"""formats.py: format_number's rewrite compiled into layouts of slices, and when it refuses to.

The layouts' answers are compared with phonenumbers on whole corpora by
test_compiled_equivalence.py; these tests pin down the analysis that makes slicing exact.
"""

from __future__ import annotations

import random
import re

import numpy as np
import phonenumbers
import pytest
from phonenumbers import PhoneMetadata

from numcheck.numbers.compiled import formats


@pytest.mark.parametrize(
    ("pattern", "length", "bounds"),
    [
        (r"(\d{3})(\d{3,4})(\d{4})", 10, {1: (0, 3), 2: (3, 6), 3: (6, 10)}),
        (r"(\d{3})(\d{3,4})(\d{4})", 11, {1: (0, 3), 2: (3, 7), 3: (7, 11)}),
        (r"(\d{2})(\d{3,13})", 12, {1: (0, 2), 2: (2, 12)}),
        (r"([1-9]\d)(9)(\d{4})", 7, {1: (0, 2), 2: (2, 3), 3: (3, 7)}),
        (r"(\d)(?:\d{2})(\d{2})", 5, {1: (0, 1), 2: (3, 5)}),
    ],
)
def test_group_bounds_follow_from_the_length(pattern: str, length: int, bounds: dict) -> None:  # type: ignore[type-arg]
    assert formats.group_bounds(pattern, length) == bounds
    rng = random.Random(length)
    for _ in range(200):
        digits = "".join(rng.choice("0123456789") for _ in range(length))
        match = re.fullmatch(pattern, digits)
        if match:  # what Python's matcher finds is what the bounds say
            assert {g: match.span(g) for g in bounds} == bounds


@pytest.mark.parametrize(
    ("pattern", "length"),
    [
        (r"(\d{2,3})(\d{2,3})", 5),  # 3+2 or 2+3: the digits would have to decide
        (r"(\d|1\d)(\d{3})", 4),  # alternation
        (r"((\d)\d)(\d)", 3),  # nested groups
        (r"(\d*?)(\d)", 3),  # lazy repeat
        (r"(\d?)", 1),  # may match the empty string: re.sub would rewrite twice
        (r"(\d{3})(\d{4})", 6),  # cannot match that length at all
    ],
)
def test_group_bounds_refuse_what_the_length_does_not_fix(pattern: str, length: int) -> None:
    assert formats.group_bounds(pattern, length) is None


def test_template_pieces_take_plain_group_references_only() -> None:
    assert formats.template_pieces(r"\1 \2-\3") == [1, " ", 2, "-", 3]
    assert formats.template_pieces(r"(0\1) \2") == ["(", "0", 1, ")", " ", 2]
    for refused in (r"\10", r"\g<1>", r"\0", r"\n\1", "\\"):
        assert formats.template_pieces(refused) is None


def test_national_templates_fold_in_the_national_prefix_rule() -> None:
    germany = PhoneMetadata.metadata_for_region("DE")
    national, international = formats.rules_for(germany)
    assert [r.pattern for r in national] == [f.pattern for f in germany.number_format]
    assert national[0].template == "0" + germany.number_format[0].format
    assert international[0].template == germany.number_format[0].format
    argentina = PhoneMetadata.metadata_for_region("AR")
    _, international = formats.rules_for(argentina)
    assert [r.pattern for r in international] == [f.pattern for f in argentina.intl_number_format]


def every_rule() -> list[tuple[int, formats.Rule]]:
    rules = []
    for cc, regions in sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items()):
        meta = PhoneMetadata.metadata_for_region_or_calling_code(cc, regions[0])
        national, international = formats.rules_for(meta)
        rules += [(cc, rule) for rule in national + international]
    return rules


def test_every_format_of_the_metadata_has_a_layout_for_each_length_it_matches() -> None:
    """The claim behind "formatting is slicing": no format needs re.sub per number today."""
    unproven = []
    for cc, rule in every_rule():
        lengths = formats.matchable_lengths(rule.pattern)
        assert lengths, (cc, rule.pattern)
        unproven += [(cc, rule.pattern, n) for n in lengths if formats.layout(rule, n) is None]
    assert unproven == []


def test_rendered_layouts_equal_re_sub_on_matching_numbers() -> None:
    rng = random.Random(3)
    templates = formats.TemplateSet()
    cases = []
    for cc, rule in every_rule()[::7]:
        for length in range(2, 18):
            layout = formats.layout(rule, length, f"+{cc} ")
            if layout is None:
                continue
            for _ in range(30):
                digits = "".join(rng.choice("0123456789") for _ in range(length))
                if re.fullmatch(rule.pattern, digits):
                    expected = f"+{cc} " + re.sub(rule.pattern, rule.template, digits)
                    cases.append((digits, templates.add(layout), expected))
    assert len(cases) > 500
    plain = np.array([templates.add(formats.digits_layout(len(text))) for text, _, _ in cases])
    source, literal, lengths = templates.arrays()
    digits = np.full((len(cases), 22), 10, dtype=np.uint8)
    for row, (text, _, _) in enumerate(cases):
        digits[row, : len(text)] = np.frombuffer(text.encode(), dtype=np.uint8) - 48
    ids = np.array([t for _, t, _ in cases])
    rendered = formats.render(digits, [ids, plain], source, literal, lengths)
    assert rendered == [[e for _, _, e in cases], [text for text, _, _ in cases]]
