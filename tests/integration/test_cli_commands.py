"""The `numcheck` command as people use it: --version, help, the client commands over a live
server (cancel, list, account, download of an unfinished task), JSON errors, an unreachable
server, client.toml and its profiles, and the operator commands' data dir."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import pytest

from numcheck import __version__
from tests.helpers import Server, free_port, in_modes, numcheck_cli

BIG = "".join(f"+1202555{i % 10000:04d}\n" for i in range(200_000))


def run(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`numcheck` with no NUMCHECK_* of the test run's environment, and no config file."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NUMCHECK_")}
    return subprocess.run(
        [sys.executable, "-m", "numcheck", *args],
        env=clean | {"COLUMNS": "200"} | (env or {}),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def as_user(server: Server, key: str, tmp_path: Path) -> dict[str, str]:
    return {
        "NUMCHECK_SERVER": server.url,
        "NUMCHECK_API_KEY": key,
        "XDG_CONFIG_HOME": str(tmp_path / "no-config"),
    }


def test_version_names_numcheck_and_the_phonenumbers_metadata() -> None:
    shown = run("--version")
    assert shown.returncode == 0
    assert shown.stdout.strip() == (
        f"numcheck {__version__} (phonenumbers {metadata.version('phonenumbers')} metadata)"
    )


@pytest.mark.parametrize(
    "command",
    [
        ["submit"],
        ["status"],
        ["download"],
        ["cancel"],
        ["list"],
        ["account"],
        ["checks"],
        ["lookup"],
        ["keys", "create"],
        ["keys", "list"],
        ["tasks"],
        ["credits", "show"],
        ["registry", "load"],
        ["registry", "list"],
        ["audit"],
        ["serve"],
    ],
)
def test_help_shows_env_vars_placeholders_only_for_values_and_examples(command: list[str]) -> None:
    shown = run(*command, "--help")
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    assert "Examples" in text and "$ numcheck " in text
    assert (
        "<bool>" not in text
        and "<str>" not in text
        and "{" not in text.split("Examples")[0].split("Usage:")[1].splitlines()[0]
    )
    if command[0] in ("submit", "status", "list", "account", "lookup"):
        assert "[env var: NUMCHECK_SERVER]" in text and "[env var: NUMCHECK_API_KEY]" in text
        assert "[env var: NUMCHECK_PROFILE]" in text and "[profiles.NAME]" in text
    if command == ["submit"]:
        assert "Usage: numcheck submit [OPTIONS] FILE" in text
        assert re.search(r"--server +URL ", text)


@in_modes("sqlite")
def test_cancel_list_account_and_json_everywhere(server: Server, tmp_path: Path) -> None:
    key = server.create_key("cli-lister")
    env = as_user(server, key, tmp_path)
    small = tmp_path / "small.txt"
    small.write_text("+12025550101\nnope\n")
    big = tmp_path / "big.txt"
    big.write_text(BIG)

    done = json.loads(
        run("submit", str(small), "-t", "validate", "--wait", "--json", env=env).stdout
    )
    assert done["status"] == "exported" and done["failure"] == 1
    running = json.loads(run("submit", str(big), "-t", "validate", "--json", env=env).stdout)

    early = run("download", running["task_id"], "-o", str(tmp_path / "early.zip"), env=env)
    assert early.returncode == 6, early.stderr
    assert "not finished yet" in early.stderr and "--wait" in early.stderr
    assert not (tmp_path / "early.zip").exists()
    early_json = run("download", running["task_id"], "--json", env=env)
    assert early_json.returncode == 6
    assert json.loads(early_json.stdout)["error"]["code"] == "not_finished"

    cancelled = run("cancel", running["task_id"], "--json", env=env)
    assert cancelled.returncode == 0, cancelled.stderr
    assert json.loads(cancelled.stdout)["status"] == "cancelled"
    plain = run("cancel", "dc60g3n8lhpk1vas1e5g", env=env)
    assert plain.returncode == 4 and "task_not_found" in plain.stderr
    missing = run("status", "dc60g3n8lhpk1vas1e5g", "--json", env=env)
    assert missing.returncode == 4 and missing.stderr == ""
    assert json.loads(missing.stdout) == {
        "error": {
            "code": "task_not_found",
            "message": json.loads(missing.stdout)["error"]["message"],
            "status": 404,
        }
    }

    listed = json.loads(run("list", "--json", env=env).stdout)
    assert [t["task_id"] for t in listed] == [running["task_id"], done["task_id"]]
    only = json.loads(run("list", "--status", "cancelled", "--json", env=env).stdout)
    assert [t["task_id"] for t in only] == [running["task_id"]]
    one = run("list", "--limit", "1", env=env)  # a pipe: tab-separated, header first
    lines = one.stdout.splitlines()
    assert lines[0].split("\t")[:3] == ["task", "type", "status"] and len(lines) == 2
    assert lines[1].startswith(running["task_id"] + "\tvalidate\tcancelled")
    bad = run("list", "--status", "finished", "--json", env=env)
    assert bad.returncode == 4 and json.loads(bad.stdout)["error"]["code"] == "invalid_request"

    account = run("account", "--json", env=env)
    body = json.loads(account.stdout)
    assert body["name"] == "cli-lister" and "webhook_secret" not in body
    assert body["limits"]["max_active_tasks"] >= 1
    fields = dict(line.split("\t", 1) for line in run("account", env=env).stdout.splitlines())
    assert fields["user"] == "cli-lister" and "max active tasks" in fields
    assert "webhook" not in run("account", env=env).stdout

    waited = run(
        "download", done["task_id"], "--wait", "-o", str(tmp_path / "r.zip"), "--json", env=env
    )
    assert waited.returncode == 0 and (tmp_path / "r.zip").stat().st_size > 0


def test_an_unreachable_server_is_named_and_given_up_on_in_seconds(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    env = {"NUMCHECK_SERVER": url, "NUMCHECK_API_KEY": "nck_x_y", "XDG_CONFIG_HOME": str(tmp_path)}
    started = time.monotonic()
    refused = run("status", "dc60g3n8lhpk1vas1e5g", env=env)
    elapsed = time.monotonic() - started
    assert refused.returncode == 5
    assert f"error: cannot reach {url}: connection refused" in refused.stderr
    assert elapsed < 10  # two quick retries, not 17 s of backoff (a bound, not a benchmark)
    as_json = run("checks", "--json", env=env)
    assert as_json.returncode == 5
    assert json.loads(as_json.stdout)["error"] == {
        "code": "unreachable",
        "message": f"cannot reach {url}: connection refused",
        "status": 0,
    }


@in_modes("sqlite")
def test_client_toml_profiles_and_a_malformed_file(server: Server, tmp_path: Path) -> None:
    key = server.create_key("profiled")
    config = tmp_path / "numcheck" / "client.toml"
    config.parent.mkdir()
    home = {"XDG_CONFIG_HOME": str(tmp_path)}
    config.write_text(
        'server = "http://127.0.0.1:1"\napi_key = "nck_wrong_key"\n\n'
        f'[profiles.local]\nserver = "{server.url}"\napi_key = "{key}"\n'
    )
    chosen = run("account", "--profile", "local", "--json", env=home)
    assert chosen.returncode == 0, chosen.stderr
    assert json.loads(chosen.stdout)["name"] == "profiled"
    from_env = run("account", "--json", env=home | {"NUMCHECK_PROFILE": "local"})
    assert json.loads(from_env.stdout)["name"] == "profiled"
    # An option or variable beats the profile, as in the AWS CLI.
    overridden = run("checks", "--profile", "local", "--api-key", "nck_bad_key", env=home)
    assert overridden.returncode == 3
    unknown = run("checks", "--profile", "prod", env=home)
    assert unknown.returncode == 2
    assert "no profile 'prod'" in unknown.stderr and "local" in unknown.stderr

    config.write_text('server = "http://127.0.0.1:1"\napi_key = \n')
    broken = run("checks", env=home)
    assert (
        broken.returncode == 2
        and str(config) in broken.stderr
        and "not valid TOML" in broken.stderr
    )
    broken_json = run("checks", "--json", env=home)
    assert json.loads(broken_json.stdout)["error"]["code"] == "bad_config"
    config.write_text("server = 8080\n")
    assert "server must be a string" in run("checks", env=home).stderr


def test_operator_commands_say_which_data_dir_and_reads_never_create_one(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for command in (
        ["keys", "list"],
        ["tasks"],
        ["audit"],
        ["registry", "list"],
        ["credits", "show", "x"],
    ):
        refused = run(*command, cwd=elsewhere)
        assert refused.returncode == 1, (command, refused.stderr)
        assert f"no numcheck database in {elsewhere / 'numcheck-data'}" in refused.stderr
        assert "NUMCHECK_DATA_DIR" in refused.stderr
    assert list(elsewhere.iterdir()) == []
    as_json = run("keys", "list", "--json", cwd=elsewhere)
    assert json.loads(as_json.stdout)["error"]["code"] == "no_data_dir"

    data = tmp_path / "data"
    created = numcheck_cli(data, "keys", "create", "--user", "ops", "--json")
    assert created.returncode == 0, created.stderr
    assert f"new data dir {data}" in created.stderr and "(NUMCHECK_DATA_DIR)" in created.stderr
    new_key = json.loads(created.stdout)
    assert new_key["user"] == "ops" and new_key["key"].startswith("nck_")
    listed = numcheck_cli(data, "keys", "list", "--json")
    assert f"data dir {data} (NUMCHECK_DATA_DIR)" in listed.stderr
    (row,) = json.loads(listed.stdout)
    assert row["prefix"] == new_key["prefix"] and row["user"] == "ops" and row["revoked"] is None
    shown = json.loads(numcheck_cli(data, "credits", "show", "ops", "--json").stdout)
    assert shown == [
        {"user": "ops", "balance": shown[0]["balance"], "reserved": 0, "charged_this_month": 0}
    ]
    unknown = numcheck_cli(data, "credits", "show", "nobody", "--json")
    assert (
        unknown.returncode == 1 and json.loads(unknown.stdout)["error"]["code"] == "user_not_found"
    )
    assert json.loads(numcheck_cli(data, "audit", "--json").stdout)[0]["action"]


# Imports allowed in a client-only install (`pip install numcheck`): the standard library, the
# distributions pyproject.toml's base dependencies pull in, and numcheck itself.
CLIENT_ONLY = r"""
import importlib.abc, importlib.metadata as md, re, runpy, sys, tomllib

base = tomllib.load(open(sys.argv[1], "rb"))["project"]["dependencies"]
allowed, todo = set(), [re.match(r"[A-Za-z0-9._-]+", r).group() for r in base]
while todo:
    name = todo.pop().lower().replace("_", "-")
    if name in allowed:
        continue
    allowed.add(name)
    try:
        requires = md.requires(name) or []
    except md.PackageNotFoundError:  # only for other Pythons (a marker), so not here either
        continue
    for req in requires:
        if "extra ==" not in req:
            todo.append(re.match(r"[A-Za-z0-9._-]+", req).group())
owners = md.packages_distributions()

class ServerPackagesAbsent(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        top = fullname.split(".")[0]
        if top in sys.stdlib_module_names or top in ("numcheck", "_distutils_hack"):
            return None
        dists = {d.lower().replace("_", "-") for d in owners.get(top, [])}
        if dists and not dists & allowed:
            raise ModuleNotFoundError(f"{fullname} is not part of a client-only install")
        return None

sys.meta_path.insert(0, ServerPackagesAbsent())
sys.argv = ["numcheck", *sys.argv[2:]]
runpy.run_module("numcheck", run_name="__main__")
"""


@in_modes("sqlite")
def test_client_commands_need_only_the_client_install(server: Server, tmp_path: Path) -> None:
    """As in a venv with only `pip install numcheck` (typer, rich, httpx): the client commands
    work, and an operator command says to install numcheck[server]."""
    key = server.create_key("client-only")
    pyproject = Path(__file__).parents[2] / "pyproject.toml"
    source = tmp_path / "n.txt"
    source.write_text("+12025550101\n")

    def client_only(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", CLIENT_ONLY, str(pyproject), *args],
            env=os.environ | as_user(server, key, tmp_path),
            capture_output=True,
            text=True,
            timeout=120,
        )

    submitted = client_only("submit", str(source), "-t", "validate", "--wait", "--json")
    assert submitted.returncode == 0, submitted.stderr
    task_id = json.loads(submitted.stdout)["task_id"]
    assert json.loads(client_only("status", task_id, "--json").stdout)["status"] == "exported"
    assert client_only("list", "--json").returncode == 0
    assert client_only("account", "--json").returncode == 0
    assert client_only("download", task_id, "-o", str(tmp_path / "r.zip")).returncode == 0
    assert client_only("--version").returncode == 0
    refused = client_only("keys", "list")
    assert refused.returncode == 2
    assert "pip install 'numcheck[server]'" in refused.stderr
    # The blocker blocks: a server module cannot be imported under it.
    probe = client_only("-c", "x")  # not a command: exits 2 from Typer, imports nothing more
    assert probe.returncode == 2
    blocked = subprocess.run(
        [
            sys.executable,
            "-c",
            CLIENT_ONLY.replace(
                'runpy.run_module("numcheck", run_name="__main__")', "import sqlalchemy"
            ),
            str(pyproject),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "sqlalchemy is not part of a client-only install" in blocked.stderr


def on_a_terminal(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    """`numcheck` with its stderr on a pseudo-terminal (what a person sees) and stdout piped."""
    import pty
    import select

    leader, follower = pty.openpty()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NUMCHECK_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "numcheck", *args],
        env=clean | {"TERM": "xterm", "COLUMNS": "160"} | env,
        stdout=subprocess.PIPE,
        stderr=follower,
        text=True,
    )
    os.close(follower)
    seen = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            break
        try:
            data = os.read(leader, 65536)
        except OSError:  # the command ended and closed the terminal
            break
        if not data:
            break
        seen += data
    os.close(leader)
    stdout = process.stdout.read() if process.stdout else ""
    return process.wait(timeout=60), stdout, seen.decode(errors="replace")


def test_on_a_terminal_the_retries_are_told(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    env = {"NUMCHECK_SERVER": url, "NUMCHECK_API_KEY": "nck_x_y", "XDG_CONFIG_HOME": str(tmp_path)}
    code, _, seen = on_a_terminal("checks", env=env)
    assert code == 5
    assert f"numcheck: GET {url}/v1/checks: connection refused; retrying in" in seen
    assert "(retry 2 of 2)" in seen and f"cannot reach {url}" in seen
    piped = run("checks", env=env)  # in a pipe: only the error
    assert "retrying" not in piped.stderr and f"cannot reach {url}" in piped.stderr


@in_modes("sqlite")
def test_on_a_terminal_wait_shows_rate_and_time_left(server: Server, tmp_path: Path) -> None:
    key = server.create_key("watcher")
    big = tmp_path / "big.txt"
    big.write_text(BIG)
    code, stdout, seen = on_a_terminal(
        "submit", str(big), "-t", "validate", "--wait", env=as_user(server, key, tmp_path)
    )
    assert code == 0, seen
    assert "uploading" in seen  # 2.6 MB: the upload bar
    assert "/s" in seen and "left 0:" in seen and "200000/200000" in seen
    assert "exported" in stdout
