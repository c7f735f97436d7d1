"""Every operation a phone app (or its developer) performs has a `porto` command.

A newcomer learns petit through porto; an operation porto cannot do is one they cannot try. New operations
in openapi.json fail here until they get a command (PORTO_COMMANDS) or a reason they never will
(NOT_FOR_THE_APP).
"""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path
from typing import Any

import click
import pytest

from porto_contract import cli
from porto_contract.client import api, pairing

pytestmark = pytest.mark.contract

OPENAPI = json.loads((Path(__file__).resolve().parents[2] / "porto_contract" / "openapi.json").read_text())

# operationId -> the porto command that performs it.
PORTO_COMMANDS = {
    "Signup": "signup",
    "Login": "login",
    "Logout": "logout",
    "RefreshToken": "token",
    "GetMe": "me",
    "StartPairing": "pair",
    "GetPairing": "pairing show",
    "CancelPairing": "pairing cancel",
    "CreateClaimCode": "claim-code",
    "ClaimDevice": "claim",
    "ListDevices": "devices list",
    "GetDevice": "devices show",
    "CreateDevice": "devices create",
    "UpdateDevice": "devices rename",
    "DeleteDevice": "devices delete",
    "ReleaseDevice": "devices release",
    "ListDeviceEvents": "devices events",
    "GetDeviceCredentials": "devices credentials",
    "RotateDeviceCredentials": "devices credentials",
    "AllowReprovision": "devices allow-reprovision",
    "GetDeviceSettings": "settings show",
    "UpdateDeviceSettings": "settings set",
    "ReplaceDeviceSettings": "settings replace",
    "GetLatestTelemetry": "telemetry latest",
    "GetTelemetryHistory": "telemetry history",
    "SendDeviceCommand": "command",
    "GetStreamToken": "stream-token",
    "StreamDevices": "follow",
    "IssueProvisioningToken": "gateway token",
    "ListProvisioningClaims": "gateway claims",
    "GetGatewayLatestTelemetry": "gateway latest",
    "ShareDevice": "share",
    "UpdateDeviceShare": "share",
    "ListDeviceShares": "shares",
    "ListIncomingShares": "shares",
    "AcceptShare": "accept",
    "AcceptTransfer": "accept",
    "DeclineShare": "decline",
    "OfferTransfer": "transfer",
    "CancelTransfer": "transfer",
    "RevokeDeviceShare": "revoke",
}

# Operations a phone app never calls, and why.
NOT_FOR_THE_APP = {
    # The device's side of seed 004's gateway: it claims its token and sends its data itself.
    "ClaimProvisioningToken": "device",
    "IngestDeviceData": "device",
    # The device registers itself by MAC (seed 001); the owner's part is AllowReprovision.
    "ProvisionDevice": "device",
    # Unauthenticated development aid, off by default (so usually absent from openapi.json).
    "DebugProvisioning": "development",
    # Probes for load balancers and orchestrators.
    "GetLiveness": "operations",
    "GetReadiness": "operations",
    # Seed 003 clients' old paths for Signup and Login, which porto already covers.
    "SignupCompat": "compatibility",
    "LoginCompat": "compatibility",
}


def _documented() -> set[str]:
    return {op["operationId"] for methods in OPENAPI["paths"].values() for op in methods.values()}


def _command(path: str) -> click.Command:
    command: click.Command = cli.main
    for word in path.split():
        assert isinstance(command, click.Group), f"`porto {path}`: {command.name} has no subcommands"
        found = command.commands.get(word)
        assert found is not None, f"`porto {path}` does not exist"
        command = found
    return command


def _client_method(operation: str) -> str:
    """The PortoClient method that sends ``operation``."""
    for name, member in inspect.getmembers(api.PortoClient, inspect.isfunction):
        source = inspect.getsource(member)
        if re.search(rf'(_request\(\s*|OPERATIONS\[)"{operation}"', source):
            return name
    raise AssertionError(f"PortoClient has no method for {operation}")


def _reachable_source(function: Any) -> str:
    """The command's source plus that of the porto functions it calls, transitively."""
    seen: set[Any] = set()
    texts = []
    stack = [function]
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        source = inspect.getsource(current)
        texts.append(source)
        for name in re.findall(r"\b(\w+)\(", source):
            for module in (cli, pairing):
                found = getattr(module, name, None)
                if inspect.isfunction(found) and found.__module__ == module.__name__:
                    stack.append(found)
    return "\n".join(texts)


def test_every_operation_a_phone_app_performs_has_a_porto_command() -> None:
    missing = sorted(_documented() - set(PORTO_COMMANDS) - set(NOT_FOR_THE_APP))
    assert missing == [], (
        f"operations with no porto command (add one, or a reason to NOT_FOR_THE_APP): {missing}"
    )


def test_the_command_list_names_only_documented_operations() -> None:
    assert sorted(set(PORTO_COMMANDS) - _documented()) == []
    assert set(PORTO_COMMANDS).isdisjoint(NOT_FOR_THE_APP)


@pytest.mark.parametrize(("operation", "path"), sorted(PORTO_COMMANDS.items()))
def test_each_command_exists_and_calls_its_operation(operation: str, path: str) -> None:
    command = _command(path)
    assert command.callback is not None
    method = _client_method(operation)
    assert re.search(rf"\.{method}\b", _reachable_source(command.callback)), (
        f"`porto {path}` never calls PortoClient.{method} ({operation})"
    )


def _leaves(group: click.Group, prefix: str = "") -> list[str]:
    found = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found.extend(_leaves(command, f"{prefix}{name} "))
        else:
            found.append(prefix + name)
    return found


@pytest.mark.parametrize("path", sorted(_leaves(cli.main)))
def test_every_command_offers_json_output(path: str) -> None:
    assert "as_json" in {param.name for param in _command(path).params}, f"`porto {path}` has no --json"
