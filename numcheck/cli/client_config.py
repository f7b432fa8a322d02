"""Where the client commands find their server and key, as the AWS CLI does: an option, else
its environment variable, else the chosen profile of the config file, else the file's top level.

~/.config/numcheck/client.toml (or $XDG_CONFIG_HOME/numcheck/client.toml):

    server = "https://numcheck.example.com"      # the default profile
    api_key = "nck_..."

    [profiles.staging]                          # --profile staging, or NUMCHECK_PROFILE
    server = "https://staging.numcheck.example.com"
    api_key = "nck_..."

A file that is not valid TOML, a value of the wrong kind or a profile that is not there is an
error (exit 2), never silently ignored.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KEYS = ("server", "api_key")


class ConfigError(Exception):
    """The config file or the chosen profile is unusable; the message says how."""


@dataclass(frozen=True)
class Target:
    server: str | None
    api_key: str | None
    source: str  # where they came from, for messages


def config_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "numcheck" / "client.toml"


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it ({exc})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None


def _section(values: object, where: str) -> dict[str, str]:
    if not isinstance(values, dict):
        raise ConfigError(f"{where} must be a table of server and api_key")
    found: dict[str, str] = {}
    for name in KEYS:
        if name in values:
            if not isinstance(values[name], str):
                raise ConfigError(f"{where}: {name} must be a string")
            found[name] = values[name]
    return found


def resolve(server: str | None, api_key: str | None, profile: str | None) -> Target:
    """Server and key from the options (or their environment variables, which Typer fills in),
    then the profile (or the file's top level)."""
    path = config_file()
    document = _read(path)
    top = _section({k: v for k, v in document.items() if k != "profiles"}, str(path))
    profiles = document.get("profiles", {})
    if not isinstance(profiles, dict):
        raise ConfigError(f"{path}: profiles must be tables, [profiles.NAME]")
    if profile:
        if profile not in profiles:
            known = ", ".join(sorted(profiles)) or "none"
            raise ConfigError(f"no profile {profile!r} in {path} (profiles: {known})")
        chosen = _section(profiles[profile], f"{path} [profiles.{profile}]")
        source = f"profile {profile} of {path}"
    else:
        chosen, source = top, str(path)
    return Target(
        server=server or chosen.get("server"),
        api_key=api_key or chosen.get("api_key"),
        source=source,
    )
