"""Settings from the environment: an empty variable is as if it were unset."""

from __future__ import annotations

from pathlib import Path

import pytest

from numcheck.config import Settings


def test_an_empty_variable_is_as_if_unset(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NUMCHECK_CACHE_DIR", "")  # was the current directory
    monkeypatch.setenv("NUMCHECK_BROKER_URL", "")
    monkeypatch.setenv("NUMCHECK_STATUS_READ_THREADS", "")

    settings = Settings(data_dir=tmp_path / "data")

    assert settings.validator_cache_dir == (tmp_path / "data" / "cache").resolve()
    assert settings.broker_url is None
    assert settings.status_read_threads == 1
