"""Phone numbers: normalize a line, then describe it through `phonenumbers` (the reference)."""

from numcheck.numbers.normalize import NotANumber, normalize_line
from numcheck.numbers.reference import Description, describe, parse

__all__ = ["Description", "NotANumber", "describe", "normalize_line", "parse"]


def is_supported_region(code: str) -> bool:
    """Whether `code` is an ISO 3166-1 alpha-2 region that phonenumbers has metadata for."""
    import phonenumbers

    return code in phonenumbers.SUPPORTED_REGIONS
