from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import jwt
import pytest
from tb_rest_client.models.models_ce import CustomerId, Device, DeviceId, DeviceProfileId

from petit.thingsboard import errors, mapping
from petit.thingsboard.models import AttributeScope, Reading, Value

pytestmark = pytest.mark.unit

KEY = "k" * 64


def _jwt(**claims: object) -> str:
    return jwt.encode(claims, KEY, algorithm="HS512")


def test_null_uuid_means_no_owner() -> None:
    assert mapping.entity_uuid({"entityType": "CUSTOMER", "id": str(mapping.NULL_UUID)}) is None
    uid = uuid.uuid4()
    assert mapping.entity_uuid({"entityType": "CUSTOMER", "id": str(uid)}) == uid
    assert mapping.entity_uuid(str(uid)) == uid
    assert mapping.entity_uuid(None) is None


def test_device_from_json_and_from_tb_model_agree() -> None:
    device_id, customer_id = uuid.uuid4(), uuid.uuid4()
    as_json = {
        "id": {"entityType": "DEVICE", "id": str(device_id)},
        "createdTime": 1767216600123,
        "customerId": {"entityType": "CUSTOMER", "id": str(customer_id)},
        "name": "A4B72CCDFF33",
        "type": "default",
        "label": "Kitchen",
    }
    as_model = Device(
        id=DeviceId(str(device_id), "DEVICE"),
        created_time=1767216600123,
        customer_id=CustomerId(str(customer_id), "CUSTOMER"),
        name="A4B72CCDFF33",
        type="default",
        label="Kitchen",
        device_profile_id=DeviceProfileId(str(uuid.uuid4()), "DEVICE_PROFILE"),
    )
    record = mapping.device_from_tb(as_json)
    assert record == mapping.device_from_tb(as_model)
    assert record.id == device_id
    assert record.owner_id == customer_id
    assert record.label == "Kitchen"
    assert record.created_at_ms == 1767216600123


def test_unassigned_device_has_no_owner_and_empty_label_is_none() -> None:
    record = mapping.device_from_tb(
        {
            "id": {"entityType": "DEVICE", "id": str(uuid.uuid4())},
            "customerId": {"entityType": "CUSTOMER", "id": str(mapping.NULL_UUID)},
            "name": "d",
            "label": "",
            "type": "thermostat",
        }
    )
    assert record.owner_id is None
    assert record.label is None
    assert record.profile == "thermostat"


def test_device_without_id_is_a_protocol_error() -> None:
    with pytest.raises(errors.ThingsBoardProtocolError):
        mapping.device_from_tb({"name": "d"})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("42", 42),
        ("-3", -3),
        ("42.5", 42.5),
        ("1e3", 1000.0),
        ("007", "007"),
        ("1_000", "1_000"),
        ("abc", "abc"),
        (True, True),
        (21.5, 21.5),
        ({"a": 1}, {"a": 1}),
        (None, None),
    ],
)
def test_numbers_come_back_as_numbers(raw: object, expected: object) -> None:
    value = mapping.typed_value(raw)
    assert value == expected
    assert type(value) is type(expected)


def test_latest_maps_never_reported_keys_to_none() -> None:
    data = {"temperature": [{"ts": 5, "value": "21.5"}], "humidity": [{"ts": 6, "value": None}]}
    result = mapping.latest_from_tb(data, ["temperature", "humidity", "pressure"])
    assert result == {"temperature": Reading(5, 21.5), "humidity": None, "pressure": None}


def test_history_keeps_order_and_types() -> None:
    data = {"t": [{"ts": 2, "value": 2}, {"ts": 1, "value": "1.5"}]}
    assert mapping.history_from_tb(data) == {"t": [Reading(2, 2), Reading(1, 1.5)]}
    assert mapping.history_from_tb(None) == {}


def test_attributes_become_a_dict() -> None:
    data = [
        {"key": "target", "value": 21, "lastUpdateTs": 1},
        {"key": "mode", "value": "eco", "lastUpdateTs": 2},
    ]
    assert mapping.attributes_from_tb(data) == {"target": 21, "mode": "eco"}


def test_scopes_translate_to_tb_names() -> None:
    assert mapping.SCOPE_TO_TB[AttributeScope.SETTINGS] == "SHARED_SCOPE"
    assert mapping.SCOPE_TO_TB[AttributeScope.SERVER] == "SERVER_SCOPE"
    assert mapping.SCOPE_TO_TB[AttributeScope.REPORTED] == "CLIENT_SCOPE"


def test_token_pair_reads_expiry_from_the_jwts() -> None:
    pair = mapping.token_pair_from_tb(
        {"token": _jwt(exp=2000, iat=1000, sub="t"), "refreshToken": _jwt(exp=9000, iat=1000)}
    )
    assert (pair.issued_at, pair.access_exp, pair.refresh_exp) == (1000.0, 2000.0, 9000.0)


def test_login_answer_without_token_is_an_auth_error() -> None:
    # RestClientCE's login() accepts this silently; we must not.
    with pytest.raises(errors.ThingsBoardAuthError):
        mapping.token_pair_from_tb(
            {"status": 401, "message": "Invalid username or password", "errorCode": 10}
        )


def _body(status: int, message: str) -> bytes:
    return json.dumps({"status": status, "message": message, "errorCode": 2, "timestamp": 1}).encode()


@pytest.mark.parametrize(
    ("status", "body", "rpc", "expected"),
    [
        (401, _body(401, "Token has expired"), False, errors.ThingsBoardAuthError),
        (403, _body(403, "You don't have permission"), False, errors.ThingsBoardForbiddenError),
        (404, _body(404, "Device with id [x] is not found"), False, errors.ThingsBoardNotFoundError),
        (409, _body(409, "version conflict"), False, errors.ThingsBoardConflictError),
        (400, _body(400, "Device with such name already exists!"), False, errors.ThingsBoardConflictError),
        (
            400,
            _body(400, "Device credentials are already assigned to another device!"),
            False,
            errors.ThingsBoardConflictError,
        ),
        (400, _body(400, "Invalid UUID string: x"), False, errors.ThingsBoardBadRequestError),
        (413, b"too large", False, errors.ThingsBoardBadRequestError),
        (429, _body(429, "Too many requests"), False, errors.ThingsBoardRateLimitedError),
        (500, _body(500, "Database error"), False, errors.ThingsBoardUnavailableError),
        (503, b"", False, errors.ThingsBoardUnavailableError),
        (504, b"", True, errors.ThingsBoardTimeoutError),
        (408, b"", True, errors.ThingsBoardTimeoutError),
        (504, b"", False, errors.ThingsBoardUnavailableError),
        (406, b"", True, errors.ThingsBoardProtocolError),
        (400, b'"FAILURE"', False, errors.ThingsBoardClaimRejectedError),
        (400, b'"CLAIMED"', False, errors.ThingsBoardConflictError),
        (418, b"", False, errors.ThingsBoardProtocolError),
    ],
)
def test_error_classification(
    status: int, body: bytes, rpc: bool, expected: type[errors.ThingsBoardError]
) -> None:
    error = mapping.error_from_tb(status, body, rpc=rpc)
    assert type(error) is expected
    assert error.status == status


def test_error_keeps_tb_message_and_retry_after() -> None:
    error = mapping.error_from_tb(
        429, _body(429, "Too many requests for current tenant!"), {"Retry-After": "2"}
    )
    assert isinstance(error, errors.ThingsBoardRateLimitedError)
    assert error.retry_after_s == 2.0
    assert error.message == "Too many requests for current tenant!"


def test_customer_title_is_findable_by_email() -> None:
    assert mapping.customer_title("petit user ", " Alice@Example.com ") == "petit user alice@example.com"


@pytest.mark.parametrize(
    ("http", "ws"),
    [
        ("http://127.0.0.1:8080", "ws://127.0.0.1:8080/api/ws"),
        ("https://tb.example/", "wss://tb.example/api/ws"),
    ],
)
def test_ws_url(http: str, ws: str) -> None:
    assert mapping.ws_url(http) == ws


@pytest.mark.parametrize("raw", [None, 0])
def test_never_connected(raw: Value) -> None:
    assert mapping.connected_since_from_tb(raw) is None


def test_connect_time_is_aware_utc_from_milliseconds() -> None:
    assert mapping.connected_since_from_tb(1_700_000_000_250) == datetime(
        2023, 11, 14, 22, 13, 20, 250_000, tzinfo=UTC
    )


@pytest.mark.parametrize("raw", ["yesterday", True, -5, {"ts": 1}])
def test_connect_time_that_is_not_milliseconds_is_a_protocol_error(raw: Value) -> None:
    with pytest.raises(errors.ThingsBoardProtocolError):
        mapping.connected_since_from_tb(raw)
