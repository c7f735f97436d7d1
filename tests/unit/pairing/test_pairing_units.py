from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from petit.audit.services import _scrub
from petit.db.models import Pairing, PairingState
from petit.pairing.common import ownership_attributes, reserved_device_name
from petit.pairing.schemas import ClaimRequest, PairingCreate
from petit.pairing.services import pairing_read

pytestmark = pytest.mark.unit

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _pairing(state: PairingState) -> Pairing:
    return Pairing(
        user_id=uuid.uuid4(),
        platform_device_id=uuid.uuid4(),
        device_id=uuid.uuid4(),
        name="lamp",
        pair_key_hash="0" * 64,
        owner_key_hash="1" * 64,
        state=state,
        created_at=NOW,
        expires_at=NOW + timedelta(minutes=10),
    )


def test_audit_details_never_keep_secrets() -> None:
    details = {"pairKey": "x", "ClaimCode": "y", "token": "z", "api_key": "k", "pairingId": "p"}
    assert _scrub(details) == {"pairingId": "p"}


def test_reserved_devices_are_not_named_like_petit_devices() -> None:
    from petit.devices.services import row_id_from_platform_name  # noqa: PLC0415 - the rule under test

    name = reserved_device_name(uuid.uuid4())
    # Reconcile must not take a reserved device for an orphaned petit device and delete it mid-pairing.
    assert row_id_from_platform_name(name) is None


def test_ownership_attributes_tell_operators_state_owner_and_last_provisioning() -> None:
    values = ownership_attributes(state="completed", owner="a@example.com", flow="pairing", at=NOW)
    assert values == {
        "pairingState": "completed",
        "owner": "a@example.com",
        "lastProvisioning": {"flow": "pairing", "at": NOW.isoformat()},
    }
    assert "lastProvisioning" not in ownership_attributes(state="released", owner="")


@pytest.mark.parametrize("state", [s for s in PairingState if s is not PairingState.COMPLETED])
def test_only_a_completed_pairing_shows_its_device(state: PairingState) -> None:
    assert pairing_read(_pairing(state)).device_id is None


def test_a_completed_pairing_shows_its_device() -> None:
    pairing = _pairing(PairingState.COMPLETED)
    assert pairing_read(pairing).device_id == pairing.device_id


def test_request_bodies_refuse_junk() -> None:
    with pytest.raises(ValidationError):
        PairingCreate.model_validate({"name": "  "})
    with pytest.raises(ValidationError):
        PairingCreate.model_validate({"name": "lamp", "extra": 1})
    with pytest.raises(ValidationError):
        ClaimRequest.model_validate({"deviceName": "box", "claimCode": "abc"})
    assert (
        ClaimRequest.model_validate({"deviceName": "box", "claimCode": "ABCD-EFGH"}).claim_code == "ABCD-EFGH"
    )
