"""DESIGN.md's layers: arrows run one way; numbers and checks import no web, database or queue."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "numcheck"

# For each layer, the numcheck packages it must never import.
FORBIDDEN = {
    "numbers": {"api", "cli", "tasks", "accounts", "dispatch", "storage", "checks", "registries"},
    "checks": {"api", "cli", "tasks", "accounts", "dispatch", "storage"},
    "storage": {"api", "cli", "tasks", "accounts", "dispatch", "checks", "numbers"},
    "tasks": {"api", "cli", "dispatch"},
    "accounts": {"api", "cli", "tasks", "checks", "dispatch"},
    "dispatch": {"api", "cli", "tasks", "accounts", "checks", "numbers"},
    "registries": {"api", "cli", "tasks", "accounts", "checks", "dispatch"},
    # The client speaks the wire contract only: nothing of the server.
    "client": {
        "api",
        "cli",
        "tasks",
        "accounts",
        "checks",
        "dispatch",
        "storage",
        "numbers",
        "registries",
        "config",
        "errors",
    },
}
THIRD_PARTY_FORBIDDEN = {
    "numbers": {"fastapi", "starlette", "sqlalchemy", "celery", "httpx", "boto3"},
    "checks": {"fastapi", "starlette", "sqlalchemy", "celery", "httpx", "boto3"},
}


def imports_of(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_layers_import_only_downwards() -> None:
    problems = []
    for layer, forbidden in FORBIDDEN.items():
        for path in (PACKAGE / layer).rglob("*.py"):
            for name in imports_of(path):
                parts = name.split(".")
                if parts[0] == "numcheck" and len(parts) > 1 and parts[1] in forbidden:
                    problems.append(f"{path.relative_to(PACKAGE)} imports {name}")
                if parts[0] in THIRD_PARTY_FORBIDDEN.get(layer, ()):
                    problems.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert problems == []
