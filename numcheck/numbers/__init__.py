"""Phone numbers: normalize a line, then describe it through `phonenumbers` (the reference)."""

from numcheck.numbers.normalize import NotANumber, normalize_line
from numcheck.numbers.reference import Description, describe, parse

__all__ = [
    "Description",
    "NotANumber",
    "default_region",
    "describe",
    "is_supported_region",
    "normalize_line",
    "parse",
]


def is_supported_region(code: str) -> bool:
    """Whether `code` is an ISO 3166-1 alpha-2 region that phonenumbers has metadata for."""
    import phonenumbers

    return code in phonenumbers.SUPPORTED_REGIONS


def default_region(value: str | None) -> str | None:
    """A `default_region` as sent (any case, blank for none), checked; InvalidRequest else."""
    from numcheck import errors

    region = (value or "").strip().upper() or None
    if region is not None and not is_supported_region(region):
        raise errors.InvalidRequest(
            "default_region must be an ISO 3166-1 alpha-2 region code, such as US or DE."
        )
    return region
