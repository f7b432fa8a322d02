"""Admin bodies are strict and user names sane: nothing half-right changes an account."""

from __future__ import annotations

import pytest

from tests.helpers import Server, in_modes


def audit_actions(admin) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(e["action"], e["target"]) for e in admin.get("/v1/admin/audit").json()]


@in_modes("sqlite")
def test_credits_and_roles_take_only_real_numbers_and_booleans(
    server: Server, admin_key: str
) -> None:
    with server.client(admin_key) as admin:
        assert admin.put("/v1/admin/users/strict/credits", json={"credits": 5}).status_code == 404
        assert admin.post("/v1/admin/users", json={"name": "strict"}).status_code == 200
        assert admin.put("/v1/admin/users/strict/credits", json={"credits": 5}).status_code == 200
        before = audit_actions(admin)
        for body in (
            {"credits": False},
            {"credits": True},
            {"credits": "77"},
            {"credits": "1_000"},
            {"credits": 7.5},
            {"credits": None},
        ):
            refused = admin.put("/v1/admin/users/strict/credits", json=body)
            assert refused.status_code == 400, (body, refused.text)
            assert refused.json()["code"] == "invalid_request"
        for body in ({"amount": True}, {"amount": "5"}, {"amount": 2.5}):
            refused = admin.post("/v1/admin/users/strict/credits/grant", json=body)
            assert refused.status_code == 400, (body, refused.text)
        for body in ({"name": "sneaky", "admin": "true"}, {"name": "sneaky", "admin": 1}):
            refused = admin.post("/v1/admin/users", json=body)
            assert refused.status_code == 400, (body, refused.text)
        users = {u["name"]: u for u in admin.get("/v1/admin/users").json()}
        assert users["strict"]["credits"]["balance"] == 5
        assert "sneaky" not in users
        assert audit_actions(admin) == before  # nothing happened
        # A JSON number with no fraction is an integer, as JSON Schema counts it.
        whole = admin.put("/v1/admin/users/strict/credits", json={"credits": 7.0})
        assert whole.status_code == 200 and whole.json()["credits"]["balance"] == 7


@pytest.mark.parametrize(
    "name",
    [
        "a\nb",  # forges a row of tab-separated output
        "a\tb",
        " ",
        "   padded ",
        "\u0430dmin",  # a Cyrillic "a" (U+0430): passes for "admin" on screen
        "x" * 65,
        "",
        "-leading",
        "trailing.",
        "semi;colon",
    ],
)
@in_modes("sqlite")
def test_user_names_outside_the_alphabet_are_refused(
    server: Server, admin_key: str, name: str
) -> None:
    with server.client(admin_key) as admin:
        refused = admin.post("/v1/admin/users", json={"name": name})
        assert refused.status_code == 400 and refused.json()["code"] == "invalid_request"
        assert name not in [u["name"] for u in admin.get("/v1/admin/users").json()]
    cli = server.cli("keys", "create", "--user", name)
    assert cli.returncode == 1 and "A user name is" in cli.stderr


@in_modes("sqlite")
def test_creating_users_is_audited_with_their_role(server: Server, admin_key: str) -> None:
    with server.client(admin_key) as admin:
        assert (
            admin.post("/v1/admin/users", json={"name": "jo.smith+kyc@example.com"}).json()["role"]
            == "user"
        )
        assert server.cli("keys", "create", "--user", "ops-1", "--admin").returncode == 0
        assert (
            server.cli("keys", "create", "--user", "jo.smith+kyc@example.com", "--admin").returncode
            == 0
        )
        entries = admin.get("/v1/admin/audit").json()
    created = {(e["action"], e["target"]): e for e in entries}
    assert created[("user.created", "jo.smith+kyc@example.com")]["details"] == {"role": "user"}
    assert created[("user.created", "ops-1")]["details"] == {"role": "admin"}
    assert created[("user.created", "ops-1")]["actor"].startswith("cli")
    assert created[("user.promoted", "jo.smith+kyc@example.com")]["details"] == {"role": "admin"}
