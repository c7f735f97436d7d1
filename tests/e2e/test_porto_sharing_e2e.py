"""`porto share/shares/accept/decline/transfer/revoke` as people run them: a real petit and the emulator."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING

import pytest

from tests.e2e.test_porto_cli_e2e import porto

if TYPE_CHECKING:
    from pathlib import Path

    from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e


def person(stack: Stack, home: Path, tag: str) -> str:
    email = f"{tag}-{uuid.uuid4().hex[:8]}@example.com"
    signed = porto(stack, home, "signup", "--email", email, "--password", "share-password-123")
    assert signed.returncode == 0, signed.stderr
    return email


def ok(result: object) -> dict:  # type: ignore[type-arg]
    assert result.returncode == 0, result.stderr  # type: ignore[attr-defined]
    return json.loads(result.stdout)  # type: ignore[attr-defined, no-any-return]


def test_share_accept_revoke_and_transfer_with_the_cli(stack: Stack, tmp_path: Path) -> None:
    ada_home, bob_home, cy_home = tmp_path / "ada", tmp_path / "bob", tmp_path / "cy"
    person(stack, ada_home, "ada")
    bob = person(stack, bob_home, "bob")
    cy = person(stack, cy_home, "cy")
    device = ok(porto(stack, ada_home, "devices", "create", "Kitchen lamp", "--json"))

    invited = ok(porto(stack, ada_home, "share", device["id"], bob, "--role", "viewer", "--json"))
    assert (invited["role"], invited["status"]) == ("viewer", "pending")
    waiting = ok(porto(stack, bob_home, "shares", "--json"))["items"]
    assert [(w["kind"], w["deviceName"]) for w in waiting] == [("share", "Kitchen lamp")]
    accepted = ok(porto(stack, bob_home, "accept", waiting[0]["id"], "--json"))
    assert accepted["status"] == "accepted"
    assert any(
        d["id"] == device["id"] for d in ok(porto(stack, bob_home, "devices", "list", "--json"))["items"]
    )

    # A viewer may not rename; the owner changes the role and takes the share back.
    changed = ok(
        porto(stack, ada_home, "share", device["id"], "--share", invited["id"], "--role", "member", "--json")
    )
    assert changed["role"] == "member"
    assert ok(porto(stack, ada_home, "shares", device["id"], "--json"))["items"][0]["role"] == "member"
    ok(porto(stack, ada_home, "revoke", device["id"], invited["id"], "--json"))
    assert porto(stack, bob_home, "devices", "show", device["id"]).returncode == 1

    # An invitation declined is gone from the list.
    again = ok(porto(stack, ada_home, "share", device["id"], cy, "--role", "member", "--json"))
    ok(porto(stack, cy_home, "decline", again["id"], "--json"))
    assert ok(porto(stack, cy_home, "shares", "--json"))["items"] == []

    # Handing the device over: cy accepts the transfer and gets the device's new credentials.
    offered = ok(porto(stack, ada_home, "transfer", device["id"], cy, "--json"))
    moved = ok(porto(stack, cy_home, "accept", offered["id"], "--json"))
    assert moved["device"]["id"] == device["id"]
    assert moved["credentials"]["accessToken"]
    assert porto(stack, ada_home, "devices", "show", device["id"]).returncode == 1
    assert porto(stack, ada_home, "transfer", device["id"], "--cancel").returncode == 1
