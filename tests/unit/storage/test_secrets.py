"""Generated secrets: made atomically once, owner-only, and never an empty or short key."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest

from numcheck.storage import secrets


@pytest.mark.parametrize("content", ["", "\n", "00ff", "not hex at all", "ab" * 15])
def test_an_empty_short_or_malformed_secret_file_is_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "secret.key"
    path.write_text(content)
    with pytest.raises(secrets.BadSecretFile, match=str(path)):
        secrets.load_or_create(path)
    assert path.read_text() == content  # left for the operator to look at


def test_a_new_secret_is_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        value = secrets.load_or_create(tmp_path / "dir" / "secret.key")
    finally:
        os.umask(previous)
    assert len(value) == 32
    assert (tmp_path / "dir" / "secret.key").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "dir").stat().st_mode & 0o777 == 0o700
    assert secrets.load_or_create(tmp_path / "dir" / "secret.key") == value
    assert [p.name for p in (tmp_path / "dir").iterdir()] == ["secret.key"]  # no temporaries


def _load(path: str, start: multiprocessing.synchronize.Event) -> str:  # type: ignore[name-defined]
    start.wait()
    return secrets.load_or_create(Path(path)).hex()


def test_processes_racing_on_first_start_all_read_the_same_whole_key(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    for round_ in range(10):
        path = tmp_path / f"secret-{round_}.key"
        with context.Manager() as manager:
            start = manager.Event()
            with context.Pool(8) as pool:
                pending = [pool.apply_async(_load, (str(path), start)) for _ in range(8)]
                start.set()
                values = {result.get(timeout=30) for result in pending}
        assert values == {path.read_text().strip()}
