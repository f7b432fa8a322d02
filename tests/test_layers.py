"""The layers of docs/design.md: arrows run one way; numbers and checks import no web, database or queue."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "numcheck"

# For each layer, the numcheck packages it must never import.
FORBIDDEN = {
    "numbers": {
        "api",
        "cli",
        "services",
        "tasks",
        "accounts",
        "dispatch",
        "storage",
        "checks",
        "registries",
    },
    "checks": {"api", "cli", "services", "tasks", "accounts", "dispatch", "storage"},
    "storage": {"api", "cli", "services", "tasks", "accounts", "dispatch", "checks", "numbers"},
    # The operations the API and the CLI share: below both, above the domain.
    "services": {"api", "cli", "dispatch"},
    "tasks": {"api", "cli", "services", "dispatch"},
    "accounts": {"api", "cli", "services", "tasks", "checks", "dispatch"},
    "dispatch": {"api", "cli", "services", "tasks", "accounts", "checks", "numbers"},
    "registries": {"api", "cli", "services", "tasks", "accounts", "checks", "dispatch"},
    # The client speaks the wire contract only: nothing of the server.
    "client": {
        "api",
        "cli",
        "services",
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
    # `pip install numcheck` (no [server] extra) has none of these.
    "client": {
        "fastapi",
        "starlette",
        "uvicorn",
        "sqlalchemy",
        "alembic",
        "pydantic",
        "pydantic_settings",
        "numpy",
        "phonenumbers",
        "celery",
        "boto3",
        "psycopg",
    },
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


def test_routes_import_no_other_route() -> None:
    """Shared shapes live in api/schemas.py, shared steps in services: a route module is a leaf."""
    problems = []
    for path in (PACKAGE / "api" / "routes").glob("*.py"):
        for name in imports_of(path):
            if name.startswith("numcheck.api.routes"):
                problems.append(f"{path.name} imports {name}")
    assert problems == []
