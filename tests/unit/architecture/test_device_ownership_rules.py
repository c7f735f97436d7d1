"""Architecture rules that keep every way a device joins an account on one path.

They read petit's source (no import, no I/O), so they fail the moment someone adds a second owner of a
device's life, reads the untyped app state from a feature, or speaks ThingsBoard's vocabulary outside its
adapter.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PETIT = Path(__file__).resolve().parents[3] / "petit"

#: Port methods that create, assign, re-key or remove a device on ThingsBoard.
LIFE_CHANGING_CALLS = frozenset(
    {
        "create_device",
        "delete_device",
        "claim_device",
        "release_device",
        "assign_device",
        "unassign_device",
        "rotate_credentials",
    }
)
#: The device owner itself, its crash-recovery sweeper, and the operator's reconcile tool (same package).
DEVICE_OWNER = {
    "devices/lifecycle.py",
    "devices/sweeper.py",
    "devices/reconcile.py",
}


def _sources() -> list[tuple[str, ast.Module]]:
    found = []
    for path in sorted(PETIT.rglob("*.py")):
        relative = path.relative_to(PETIT).as_posix()
        found.append((relative, ast.parse(path.read_text(), filename=str(path))))
    return found


def _calls(tree: ast.Module) -> list[ast.Call]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)]


def test_only_the_device_owner_changes_a_device_on_thingsboard() -> None:
    offenders = []
    for relative, tree in _sources():
        if relative in DEVICE_OWNER or relative.startswith("thingsboard/"):
            continue
        for call in _calls(tree):
            func = call.func
            if not isinstance(func, ast.Attribute) or func.attr not in LIFE_CHANGING_CALLS:
                continue
            # A feature service's own method of the same name (``device_service.rotate_credentials``)
            # delegates to the lifecycle; the rule is about the ThingsBoard port.
            if isinstance(func.value, ast.Name) and func.value.id.endswith("_service"):
                continue
            offenders.append(f"{relative}:{call.lineno} {func.attr}")
    assert offenders == [], "go through petit.devices.lifecycle.DeviceLifecycle instead"


def test_only_the_device_owner_builds_device_rows() -> None:
    offenders = []
    for relative, tree in _sources():
        if relative == "devices/lifecycle.py" or relative.startswith("db/"):
            continue
        for call in _calls(tree):
            if isinstance(call.func, ast.Name) and call.func.id == "Device":
                offenders.append(f"{relative}:{call.lineno}")
    assert offenders == [], "Device rows are written by DeviceLifecycle only"


def test_features_do_not_read_app_state() -> None:
    offenders = []
    for relative, tree in _sources():
        if relative in {"app.py", "runtime.py"}:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "state":
                value = node.value
                # ``request.app.state`` / ``socket.app.state`` / ``app.state``: the untyped bag.
                if (isinstance(value, ast.Attribute) and value.attr == "app") or (
                    isinstance(value, ast.Name) and value.id == "app"
                ):
                    offenders.append(f"{relative}:{node.lineno}")
            if isinstance(node, ast.arg) and node.arg == "state" and relative.endswith("deps.py"):
                offenders.append(f"{relative}:{node.lineno} (a State parameter)")
    assert offenders == [], "take the typed Runtime dependency instead"


def test_thingsboard_vocabulary_stays_in_the_adapter() -> None:
    words = ("AttributeScope", "lastConnectTime", "SERVER_SCOPE", "SHARED_SCOPE", "CLIENT_SCOPE")
    offenders = []
    for path in sorted(PETIT.rglob("*.py")):
        relative = path.relative_to(PETIT).as_posix()
        if relative.startswith("thingsboard/"):
            continue
        text = path.read_text()
        offenders += [f"{relative}: {word}" for word in words if word in text]
    assert offenders == [], "ask the ThingsBoard port for a capability instead"
