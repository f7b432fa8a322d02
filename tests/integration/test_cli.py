"""The operator's commands, run as processes on a real data dir."""

from pathlib import Path

from tests.helpers import Server, in_modes, numcheck_cli, submit, wait_for_status


def test_keys_create_list_revoke(tmp_path: Path) -> None:
    data = tmp_path / "data"
    created = numcheck_cli(data, "keys", "create", "--user", "dora", "--admin")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("nck_") and len(key) > 40
    prefix = key.split("_")[1]

    listed = numcheck_cli(data, "keys", "list")
    assert listed.returncode == 0, listed.stderr
    assert prefix in listed.stdout and "dora" in listed.stdout and "admin" in listed.stdout
    assert key not in listed.stdout and key.split("_", 2)[2] not in listed.stdout
    assert key not in created.stderr  # only stdout carries it, once

    assert numcheck_cli(data, "keys", "revoke", prefix).returncode == 0
    assert numcheck_cli(data, "keys", "revoke", "nosuchkey").returncode == 1

    unknown_user = numcheck_cli(data, "keys", "list", "--user", "nobody")
    assert unknown_user.returncode == 1 and "nobody" in unknown_user.stderr


@in_modes("sqlite", "postgresql")
def test_tasks_command_lists_a_users_tasks(server: Server) -> None:
    key = server.create_key("erin")
    with server.client(key) as client:
        task_id = submit(client, b"+12025551234\n").json()["task_id"]
        wait_for_status(client, task_id)
    mine = server.cli("tasks", "--user", "erin")
    assert mine.returncode == 0, mine.stderr
    assert task_id in mine.stdout and "exported" in mine.stdout
    others = server.cli("tasks", "--user", "admin")
    assert task_id not in others.stdout


def test_first_start_writes_the_admin_key_only_to_a_private_file(start_server) -> None:
    server = start_server()
    key_file = server.data_dir / "admin-key.txt"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert (server.data_dir / "secret.key").stat().st_mode & 0o777 == 0o600
    log = server.log()
    assert server.admin_key not in log  # output and logs reach journals and collectors
    assert str(key_file) in log  # the log says where it is
    server.stop()
    again = start_server(server.data_dir)
    assert server.admin_key not in again.log()
