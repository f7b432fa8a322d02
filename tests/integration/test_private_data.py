"""The data dir is private: customers' numbers, results, webhook secrets and keys are readable
by numcheck's own user only, whatever the umask; responses that carry them are not cached."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx

from tests.helpers import Server, download_zip, submit, wait_for_status


def readable_by_others(root: Path) -> list[str]:
    found = []
    for path in [root, *root.rglob("*")]:
        mode = path.stat().st_mode
        if stat.S_IMODE(mode) & 0o077:
            found.append(f"{path.relative_to(root.parent)} {stat.filemode(mode)}")
    return found


def test_every_file_and_directory_of_the_data_dir_is_owner_only(tmp_path: Path) -> None:
    # A permissive umask, as on many hosts: numcheck must not depend on it.
    previous = os.umask(0o002)
    try:
        server = Server(tmp_path / "data").start()
    finally:
        os.umask(previous)
    try:
        with server.client(server.admin_key) as client:
            task_id = submit(client, b"+4915112345678\nnot a number\n").json()["task_id"]
            status = wait_for_status(client, task_id)
            assert download_zip(status)["results.csv"].startswith("Number,")
            assert (server.data_dir / "blobs" / "results" / f"{task_id}.zip").is_file()
            account = client.get("/v1/account")
            assert account.headers["cache-control"] == "no-store"
            assert account.headers["x-content-type-options"] == "nosniff"
        result = httpx.get(status["result_url"])
        assert result.status_code == 200
        assert result.headers["cache-control"] == "no-store"
        assert result.headers["x-content-type-options"] == "nosniff"
        loaded = server.cli("registry", "load", "htx", str(write(tmp_path, "+4915112345678\n")))
        assert loaded.returncode == 0, loaded.stderr
        assert (server.data_dir / "numcheck.db").is_file()
        assert list((server.data_dir / "blobs" / "registries").rglob("*.u64"))
        assert readable_by_others(server.data_dir) == []
    finally:
        server.stop()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "registry.txt"
    path.write_text(text)
    return path


def test_an_existing_data_dir_is_made_private_at_start(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    os.chmod(data_dir, 0o755)
    (data_dir / "numcheck.db").touch()
    os.chmod(data_dir / "numcheck.db", 0o644)
    subprocess.run(
        [sys.executable, "-m", "numcheck", "db", "upgrade"],
        env={**os.environ, "NUMCHECK_DATA_DIR": str(data_dir)},
        check=True,
        capture_output=True,
    )
    assert readable_by_others(data_dir) == []
