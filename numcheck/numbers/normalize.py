"""Turn one line of an uploaded file into a candidate number, or say why it is not one."""

from __future__ import annotations

# Separators people type inside a number; whitespace of any kind is removed as well.
_SEPARATORS = str.maketrans("", "", "-.()/")


class NotANumber(ValueError):
    """A line that cannot be read as a phone number; `reason` is a stable machine word."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def normalize_line(line: str, default_region: str | None = None) -> str:
    """Return `+digits` (or bare digits when a default region lets national format through).

    Anything else (letters, an extension, two numbers, a `tel:` prefix) raises NotANumber.
    """
    candidate = "".join(line.split()).translate(_SEPARATORS)
    if candidate.startswith("00"):
        candidate = "+" + candidate[2:]
    digits = candidate[1:] if candidate.startswith("+") else candidate
    if not (digits.isascii() and digits.isdigit()):
        raise NotANumber("not_a_number")
    if digits is candidate and default_region is None:
        # Bare digits can only be read against a region; without one they are ambiguous.
        raise NotANumber("not_a_number")
    return candidate
