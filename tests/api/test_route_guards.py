"""Every route is guarded, checked in process on the real app: /v1 needs a key, admin routes
refuse users, and nothing outside /v1 but the public routes answers without one."""

from __future__ import annotations

import re

import pytest

from tests.api.conftest import InProcess, InProcessFactory

ADMIN_PREFIXES = ("/v1/admin", "/v1/registries")
PUBLIC = {"/healthz", "/readyz", "/results/{task_id}.zip", "/docs", "/openapi.json", "/redoc"}


@pytest.fixture(scope="module")
def app(in_process: InProcessFactory) -> InProcess:
    return in_process()


def routes(app: InProcess) -> list[tuple[str, str]]:
    spec = app.client().get("/openapi.json").json()
    return [(method.upper(), path) for path, item in spec["paths"].items() for method in item]


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "abc", path)


def test_every_v1_route_refuses_no_key_and_every_admin_route_refuses_a_user(
    app: InProcess,
) -> None:
    user_key = app.create_key("guarded-user")
    anonymous, as_user = app.client(), app.client(user_key)
    found = routes(app)
    assert {p for _, p in found} - PUBLIC, "no routes found"
    for method, path in found:
        if path in PUBLIC:
            continue
        assert path.startswith("/v1/"), f"unguarded route outside /v1: {path}"
        refused = anonymous.request(method, concrete(path))
        assert refused.status_code == 401, (method, path, refused.status_code)
        assert refused.json()["code"] == "invalid_api_key"
        if path.startswith(ADMIN_PREFIXES):
            forbidden = as_user.request(method, concrete(path))
            assert forbidden.status_code == 403, (method, path, forbidden.status_code)
            assert forbidden.json()["code"] == "forbidden"
