"""A registry stored by an older numcheck (BLAKE2b-64 digests, database revision 0009) keeps
answering exactly after the upgrade, takes `add` and `remove` loads, and a full load moves it to
the current digest."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from tests.helpers import german_mobiles, load_api, submit, wait_for_status
from tests.integration.test_registries import results_of

FIXTURE = Path(__file__).parent.parent / "fixtures" / "registry_v1"


def digests(data_dir: Path) -> list[tuple[int, str]]:
    """Each stored version and the digest its entries are."""
    with sqlite3.connect(data_dir / "numcheck.db") as db:
        return db.execute("SELECT version, digest FROM registry_versions ORDER BY id").fetchall()


def answers(client, numbers: list[str]) -> list[list[str]]:  # type: ignore[no-untyped-def]
    created = submit(client, ("\n".join(numbers) + "\n").encode(), task_type="htx")
    assert created.status_code == 200, created.text
    rows, _ = results_of(wait_for_status(client, created.json()["task_id"]))
    return rows[1:]


def test_a_registry_stored_the_old_way_keeps_answering(start_server, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    shutil.copytree(FIXTURE, data_dir, ignore=shutil.ignore_patterns("README.md"))
    numbers = german_mobiles(2000, seed=41)
    members, others = set(numbers[:1500]), numbers[1500:]
    server = start_server(data_dir=data_dir)
    with server.client(server.admin_key) as client:
        listed = client.get("/v1/registries").json()
        assert [(r["name"], r["version"], r["entries"]) for r in listed] == [("htx", 2, 1500)]
        assert answers(client, numbers) == [[n, "yes" if n in members else "no"] for n in numbers]
        assert digests(data_dir) == [(2, "blake2b-64")]

        # add and remove combine with the stored digests, whatever hashed them.
        added = load_api(client, "htx", "\n".join(others[:200]).encode(), mode="add")
        assert added.status_code == 200 and added.json()["entries"] == 1700, added.text
        removed = load_api(client, "htx", "\n".join(numbers[:100]).encode(), mode="remove")
        assert removed.status_code == 200 and removed.json()["entries"] == 1600, removed.text
        members = (members | set(others[:200])) - set(numbers[:100])
        assert answers(client, numbers) == [[n, "yes" if n in members else "no"] for n in numbers]
        assert digests(data_dir) == [(4, "blake2b-64")]

        # A full load replaces it; answers still exact, and the old snapshots are gone.
        replaced = load_api(client, "htx", "\n".join(numbers[500:]).encode())
        assert replaced.status_code == 200 and replaced.json()["version"] == 5
        members = set(numbers[500:])
        assert answers(client, numbers) == [[n, "yes" if n in members else "no"] for n in numbers]
        assert digests(data_dir) == [(5, "siphash-2-4")]
    snapshots = sorted(p.name for p in (data_dir / "blobs" / "registries" / "htx").iterdir())
    assert snapshots == ["000005.u64"]
