"""Secrets generated on first start and kept in the data dir, readable by the owner only."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

MIN_SECRET_BYTES = 16


class BadSecretFile(RuntimeError):
    """A secret file that exists but does not hold a usable key."""


def load_or_create(path: Path, nbytes: int = 32) -> bytes:
    """The secret at `path`, created (mode 0600) with `nbytes` random bytes when missing.

    Creation is atomic: the key is written to a private temporary file and linked into place,
    so a process racing on first start reads either nothing or the winner's whole key, never a
    half-written one. An empty, short or malformed file is refused rather than used as a key.
    """
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    make_private_dir(path.parent)
    value = secrets.token_bytes(nbytes)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    write_private(temporary, value.hex() + "\n")
    try:
        os.link(temporary, path)  # fails if another process linked its key first
    except FileExistsError:
        return _read(path)
    finally:
        temporary.unlink(missing_ok=True)
    return value


def _read(path: Path) -> bytes:
    text = path.read_text().strip()
    try:
        value = bytes.fromhex(text)
    except ValueError:
        raise BadSecretFile(f"{path} does not hold a hexadecimal key; fix or delete it.") from None
    if len(value) < MIN_SECRET_BYTES:
        raise BadSecretFile(
            f"{path} holds {len(value)} bytes, fewer than the {MIN_SECRET_BYTES} a key needs; "
            "fix or delete it (a new key is made when it is missing)."
        )
    return value


def write_private(path: Path, text: str) -> None:
    """Write `text` to a new or existing file that only its owner can read, durably."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT, and umask applies
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def make_private_dir(path: Path) -> Path:
    """Create `path` (and missing parents) and make it 0700 whatever the umask: the data dir
    holds the database, customers' numbers and results, and keys."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path
