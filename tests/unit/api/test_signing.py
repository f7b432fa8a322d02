"""Result links: genuine and unexpired, for this task and this owner only."""

from __future__ import annotations

import time

import pytest

from numcheck import errors
from numcheck.api import signing

SECRET = b"s" * 32


def test_a_fresh_link_verifies() -> None:
    expires, signature = signing.sign(SECRET, "task1", "owner1", 60)
    assert expires >= int(time.time()) + 59
    signing.verify(SECRET, "task1", "owner1", str(expires), signature)


@pytest.mark.parametrize(
    ("task_id", "owner", "expires_delta", "secret"),
    [
        ("task2", "owner1", 0, SECRET),  # another task's link
        ("task1", "owner2", 0, SECRET),  # the same task id of another owner
        ("task1", "owner1", 3600, SECRET),  # expiry moved later
        ("task1", "owner1", 0, b"t" * 32),  # another server's secret
    ],
)
def test_a_link_for_anything_else_is_refused(
    task_id: str, owner: str, expires_delta: int, secret: bytes
) -> None:
    expires, signature = signing.sign(SECRET, "task1", "owner1", 60)
    with pytest.raises(errors.InvalidSignature):
        signing.verify(secret, task_id, owner, str(expires + expires_delta), signature)


@pytest.mark.parametrize("expires", ["", "soon", "1e9", "-1"])
def test_malformed_or_past_expiry_is_refused(expires: str) -> None:
    _, signature = signing.sign(SECRET, "task1", "owner1", 60)
    with pytest.raises(errors.InvalidSignature):
        signing.verify(SECRET, "task1", "owner1", expires, signature)


def test_an_expired_link_is_refused() -> None:
    expires, signature = signing.sign(SECRET, "task1", "owner1", -1)
    with pytest.raises(errors.InvalidSignature):
        signing.verify(SECRET, "task1", "owner1", str(expires), signature)
