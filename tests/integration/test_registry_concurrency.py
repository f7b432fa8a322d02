"""Loads of one registry run one at a time: concurrent `add`s lose nothing and never collide,
and each load's audit entry commits with it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.helpers import fresh_postgres, german_mobiles, load_api, numcheck_cli

LOADS = 6


def test_concurrent_adds_to_one_registry_all_land(start_server, tmp_path) -> None:
    with fresh_postgres() as database:
        upgraded = numcheck_cli(
            tmp_path / "data", "db", "upgrade", env={"NUMCHECK_DATABASE_URL": database}
        )
        assert upgraded.returncode == 0, upgraded.stderr
        server = start_server(database_url=database, max_uploads_in_flight=LOADS)
        numbers = german_mobiles(LOADS * 500, seed=11)
        files = [numbers[i::LOADS] for i in range(LOADS)]
        with server.client(server.admin_key) as admin:
            with ThreadPoolExecutor(LOADS) as pool:
                answers = list(
                    pool.map(
                        lambda part: load_api(admin, "htx", "\n".join(part).encode(), mode="add"),
                        files,
                    )
                )
            assert [a.status_code for a in answers] == [200] * LOADS, [a.text for a in answers]
            assert sorted(a.json()["version"] for a in answers) == list(range(1, LOADS + 1))
            registry = admin.get("/v1/registries").json()
            assert registry[0]["entries"] == len(numbers)  # no add was lost
            loads = [
                e for e in admin.get("/v1/admin/audit").json() if e["action"] == "registry.loaded"
            ]
            assert sorted(e["details"]["version"] for e in loads) == list(range(1, LOADS + 1))
        server.stop()
