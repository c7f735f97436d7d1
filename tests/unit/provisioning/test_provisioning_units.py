"""MAC normalization, the provisioning settings group and the in-memory port's provisioning methods."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from petit.provisioning.errors import InvalidMacAddressError
from petit.provisioning.services import normalize_mac
from petit.settings import ProvisioningSettings
from petit.thingsboard.errors import ThingsBoardBadRequestError, ThingsBoardNotFoundError
from tests.fakes.thingsboard import FakeThingsBoard

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "raw", ["a4:b7:2c:cd:ff:33", "A4-B7-2C-CD-FF-33", "a4b72ccdff33", " A4:B7:2C:CD:FF:33 "]
)
def test_every_spelling_of_a_mac_names_one_device(raw: str) -> None:
    assert normalize_mac(raw) == "A4B72CCDFF33"


@pytest.mark.parametrize(
    "raw", ["", "A4:B7:2C:CD:FF", "G4:B7:2C:CD:FF:33", "A4:B7:2C:CD:FF:33:00", "A4B7.2CCD.FF33"]
)
def test_malformed_macs_are_refused(raw: str) -> None:
    with pytest.raises(InvalidMacAddressError):
        normalize_mac(raw)


def test_provisioning_is_off_and_safe_by_default() -> None:
    group = ProvisioningSettings()
    assert group.device_key is None
    assert group.debug_endpoint is False
    assert group.token_lifetime_min == 30


def test_key_and_secret_come_together() -> None:
    with pytest.raises(ValidationError):
        ProvisioningSettings(device_key="k")
    with pytest.raises(ValidationError):
        ProvisioningSettings.model_validate({"device_secret": "s"})
    assert ProvisioningSettings.model_validate({"device_key": "k", "device_secret": "s"}).device_key == "k"


async def test_fake_profiles_keep_provision_keys_unique() -> None:
    tb = FakeThingsBoard()
    await tb.ensure_provisioning_profile("a", key="k1", secret="s1")
    await tb.ensure_provisioning_profile("a", key="k1", secret="s2")  # updating is fine
    assert tb.provisioning_profiles["a"] == ("k1", "s2")
    with pytest.raises(ThingsBoardBadRequestError):
        await tb.ensure_provisioning_profile("b", key="k1", secret="s3")


async def test_fake_save_readings_is_what_latest_returns() -> None:
    tb = FakeThingsBoard()
    device = await tb.create_device("meter", owner_id=None)
    await tb.save_readings(device.id, {"v": 228.4, "on": True}, ts_ms=1_000)
    latest = await tb.latest_readings(device.id, ["v", "on", "never"])
    assert latest["v"] is not None
    assert (latest["v"].value, latest["v"].ts_ms) == (228.4, 1_000)
    assert latest["on"] is not None
    assert latest["on"].value is True
    assert latest["never"] is None
    with pytest.raises(ThingsBoardBadRequestError):
        await tb.save_readings(device.id, {})
    with pytest.raises(ThingsBoardNotFoundError):
        await tb.save_readings(uuid.UUID(int=0), {"v": 1})
