import pytest
from hypothesis import given
from hypothesis import strategies as st

from numcheck.numbers import NotANumber, normalize_line


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("+12025551234", "+12025551234"),
        ("  +1 (202) 555-1234 ", "+12025551234"),
        ("+49 30/1234.5678", "+493012345678"),
        ("0049 30 12345678", "+493012345678"),
        ("\t+44\u00a020 7946 0958\r", "+442079460958"),
    ],
)
def test_separators_and_00_are_normalized(line: str, expected: str) -> None:
    assert normalize_line(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        "hello",
        "+1 202 555 1234 ext 5",
        "+12025551234;ext=5",
        "+12025551234, +12025551235",
        "tel:+12025551234",
        "+",
        "++12025551234",
        "+１２０２５５５１２３４",  # noqa: RUF001 (full-width digits are not ASCII digits)
        "2025551234",  # bare digits need a default region
        "---",
    ],
)
def test_anything_else_is_not_a_number(line: str) -> None:
    with pytest.raises(NotANumber) as caught:
        normalize_line(line)
    assert caught.value.reason == "not_a_number"


def test_bare_digits_are_accepted_with_a_default_region() -> None:
    assert normalize_line("(202) 555-1234", default_region="US") == "2025551234"
    assert normalize_line("+12025551234", default_region="US") == "+12025551234"


@given(
    st.text(alphabet="0123456789", min_size=1, max_size=20), st.sampled_from(["", " ", "-", "."])
)
def test_separators_never_change_the_digits(digits: str, sep: str) -> None:
    spaced = sep.join(digits)
    assert normalize_line("+" + spaced) == "+" + digits
