"""Device names, labels and metadata: what the API accepts, and how platform names map back to rows."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from pydantic import ValidationError

from petit.devices.schemas import DeviceCreate, DeviceUpdate
from petit.devices.services import platform_device_name, platform_label, row_id_from_platform_name

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("name", "stored"),
    [("lamp", "lamp"), ("  Lamp 2 ", "Lamp 2"), ("x" * 64, "x" * 64), ("Lámpara ☀", "Lámpara ☀")],
)
def test_names_are_trimmed(name: str, stored: str) -> None:
    assert DeviceCreate.model_validate({"name": name}).name == stored


@pytest.mark.parametrize(
    "body",
    [
        {"name": ""},
        {"name": " \t "},
        {"name": "x" * 65},
        {"name": "a\nb"},
        {"name": "a\x00b"},
        {"name": "ok", "label": "l" * 129},
        {"name": "ok", "label": "a\rb"},
        {"name": "ok", "metadata": {"k": "v" * 4100}},
        {"name": "ok", "metadata": []},
        {"name": "ok", "extra": 1},
    ],
)
def test_bad_input_is_refused(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        DeviceCreate.model_validate(body)


def test_update_tells_a_cleared_label_from_an_absent_one() -> None:
    assert DeviceUpdate.model_validate({"label": None}).model_fields_set == {"label"}
    assert DeviceUpdate.model_validate({}).model_fields_set == set()


def test_platform_names_lead_back_to_rows() -> None:
    row_id = uuid.uuid4()
    assert row_id_from_platform_name(platform_device_name(row_id)) == row_id
    assert row_id_from_platform_name("operator device") is None
    assert row_id_from_platform_name("petit-not-a-uuid") is None
    assert platform_label("Lamp", None) == "Lamp"
    assert platform_label("Lamp", "hall") == "Lamp (hall)"
