"""Conformance of the REST API with the official tb-rest-client 4.3 ``RestClientCE``, unchanged."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import httpx
import jwt
import pytest
from tb_rest_client.models.models_ce import (
    ActivateUserRequest,
    ClaimRequest,
    Customer,
    Device,
    DeviceId,
    User,
)
from tb_rest_client.rest import ApiException
from tb_rest_client.rest_client_ce import RestClientCE

from tests.emulator.conftest import wait_for

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from thingsboard_emulator import Emulator

NULL_UUID = "13814000-1dd2-11b2-8080-808080808080"


@pytest.fixture
def tb(sync_emulator: Emulator) -> Iterator[RestClientCE]:
    client = RestClientCE(sync_emulator.http_url)
    client.login("tenant@thingsboard.org", "tenant")
    yield client
    client.stop()


def error_body(exc: ApiException) -> dict[str, Any]:
    body = json.loads(exc.body)
    assert set(body) == {"status", "message", "errorCode", "timestamp"}
    return body


def make_customer_user(
    tb: RestClientCE, emu: Emulator, name: str, password: str = "secret1"
) -> tuple[Customer, User, RestClientCE]:
    customer = tb.save_customer(Customer(title=name))
    user = tb.save_user(
        User(email=f"{name}@example.com", authority="CUSTOMER_USER", customer_id=customer.id),
        send_activation_mail=False,
    )
    link = tb.get_activation_link(user.id)
    # TB answers text/plain; tb-rest-client 4.3 hands back str(bytes) ("b'http://...'"): pick the token out.
    match = re.search(r"activateToken=([A-Za-z0-9]+)", link)
    assert match is not None
    token = match.group(1)
    tb.activate_user(ActivateUserRequest(activate_token=token, password=password), send_activation_mail=False)
    client = RestClientCE(emu.http_url)
    client.login(f"{name}@example.com", password)
    return customer, user, client


def dev(tb: RestClientCE, **fields: Any) -> Device:
    """tb-rest-client's ``Device`` model insists on a profile id."""
    return Device(device_profile_id=tb.get_default_device_profile_info().id, **fields)


# --- auth ---------------------------------------------------------------------------------------------------


def test_login_returns_tb_jwt_pair_with_claims(sync_emulator: Emulator) -> None:
    resp = httpx.post(
        f"{sync_emulator.http_url}/api/auth/login",
        json={"username": "tenant@thingsboard.org", "password": "tenant"},
    )
    assert resp.status_code == 200
    pair = resp.json()
    assert set(pair) == {"token", "refreshToken"}
    claims = jwt.decode(pair["token"], options={"verify_signature": False})
    assert claims["sub"] == "tenant@thingsboard.org"
    assert claims["scopes"] == ["TENANT_ADMIN"]
    assert claims["iss"] == "thingsboard.io"
    assert claims["customerId"] == NULL_UUID
    assert claims["exp"] - claims["iat"] == 9000
    assert claims["exp"] < 10**11  # seconds, not milliseconds
    refresh = jwt.decode(pair["refreshToken"], options={"verify_signature": False})
    assert refresh["scopes"] == ["REFRESH_TOKEN"]


def test_bad_login_is_401_with_tb_error_body(sync_emulator: Emulator) -> None:
    resp = httpx.post(
        f"{sync_emulator.http_url}/api/auth/login",
        json={"username": "tenant@thingsboard.org", "password": "wrong"},
    )
    assert resp.status_code == 401
    body = resp.json()
    assert body["message"] == "Invalid username or password"
    assert body["errorCode"] == 10
    assert body["status"] == 401
    resp = httpx.post(
        f"{sync_emulator.http_url}/api/auth/login", json={"username": "nobody@x.org", "password": "x"}
    )
    assert resp.status_code == 401
    assert httpx.get(f"{sync_emulator.http_url}/api/auth/login").status_code == 401


def test_token_errors_follow_tb_quirks(sync_emulator: Emulator) -> None:
    url = f"{sync_emulator.http_url}/api/auth/user"
    assert httpx.get(url).json()["message"] == "Authentication failed"
    malformed = httpx.get(url, headers={"X-Authorization": "Bearer not-a-jwt"})
    assert (malformed.status_code, malformed.json()["errorCode"]) == (401, 10)
    forged = jwt.encode({"sub": "x", "exp": 9999999999}, b"k" * 64, algorithm="HS512")
    bad_sig = httpx.get(url, headers={"X-Authorization": f"Bearer {forged}"})
    assert (bad_sig.status_code, bad_sig.json()["errorCode"], bad_sig.json()["message"]) == (
        401,
        11,
        "Token has expired",
    )


def test_refresh_and_auth_user(sync_emulator: Emulator, tb: RestClientCE) -> None:
    user = tb.get_user()
    assert user.authority == "TENANT_ADMIN"
    assert user.email == "tenant@thingsboard.org"
    refresh = tb.token_info["refreshToken"]
    resp = httpx.post(f"{sync_emulator.http_url}/api/auth/token", json={"refreshToken": refresh})
    assert resp.status_code == 200
    new = resp.json()["token"]
    me = httpx.get(f"{sync_emulator.http_url}/api/auth/user", headers={"Authorization": f"Bearer {new}"})
    assert me.json()["email"] == "tenant@thingsboard.org"
    # An access token is not a refresh token.
    bad = httpx.post(f"{sync_emulator.http_url}/api/auth/token", json={"refreshToken": new})
    assert bad.status_code == 401


# --- customers ----------------------------------------------------------------------------------------------


def test_customer_crud(tb: RestClientCE, unique: Callable[[str], str]) -> None:
    title = unique("acme")
    customer = tb.save_customer(Customer(title=title))
    assert customer.title == title
    assert tb.get_customer_by_id(customer.id).title == title
    assert tb.get_tenant_customer(title).id.id == customer.id.id
    for i in range(3):
        tb.save_customer(Customer(title=f"{title}-{i}"))
    page = tb.get_customers(page_size=2, page=0, text_search=title, sort_property="title", sort_order="ASC")
    assert page.total_elements == 4
    assert page.total_pages == 2
    assert page.has_next is True
    assert [c.title for c in page.data] == [title, f"{title}-0"]
    with pytest.raises(ApiException) as dup:
        tb.save_customer(Customer(title=title))
    assert error_body(dup.value)["message"] == "Customer with such title already exists!"
    tb.delete_customer(customer.id)
    with pytest.raises(ApiException) as gone:
        tb.get_customer_by_id(customer.id)
    assert gone.value.status == 404
    assert error_body(gone.value)["message"] == f"Customer with id [{customer.id.id}] is not found"
    with pytest.raises(ApiException) as missing:
        tb.get_tenant_customer("no-such-title")
    assert error_body(missing.value)["message"] == "Customer with title [no-such-title] is not found"


def test_bad_ids_get_400_and_404_bodies(sync_emulator: Emulator, tb: RestClientCE) -> None:
    token = tb.token_info["token"]
    resp = httpx.get(
        f"{sync_emulator.http_url}/api/device/not-a-uuid", headers={"X-Authorization": f"Bearer {token}"}
    )
    assert resp.status_code == 400
    assert resp.json() | {"timestamp": 0} == {
        "status": 400,
        "message": "Invalid UUID string: not-a-uuid",
        "errorCode": 31,
        "timestamp": 0,
    }
    with pytest.raises(ApiException) as exc:
        tb.get_device_by_id(DeviceId("0b3a4d1e-0000-4000-8000-000000000000", "DEVICE"))
    assert exc.value.status == 404
    assert error_body(exc.value)["errorCode"] == 32
    with pytest.raises(ApiException) as by_name:
        tb.get_tenant_device("nope")
    assert error_body(by_name.value)["message"] == "Requested item wasn't found!"


# --- users --------------------------------------------------------------------------------------------------


def test_user_without_mail_activation_and_user_token(
    sync_emulator: Emulator, tb: RestClientCE, unique: Callable[[str], str]
) -> None:
    name = unique("alice")
    customer, user, alice = make_customer_user(tb, sync_emulator, name)
    assert user.authority == "CUSTOMER_USER"
    assert user.customer_id.id == customer.id.id
    me = alice.get_user()
    assert me.email == f"{name}@example.com"
    claims = jwt.decode(alice.token_info["token"], options={"verify_signature": False})
    assert claims["customerId"] == customer.id.id
    pair = tb.get_user_token(user.id)
    token_claims = jwt.decode(pair.token, options={"verify_signature": False})
    assert token_claims["userId"] == user.id.id
    assert token_claims["scopes"] == ["CUSTOMER_USER"]
    users = tb.get_customer_users(customer.id, page_size=10, page=0)
    assert [u.email for u in users.data] == [f"{name}@example.com"]
    # Activating twice fails the TB way.
    with pytest.raises(ApiException) as again:
        tb.get_activation_link(user.id)
    assert error_body(again.value)["message"] == "User is already activated!"
    # A customer user may not mint tokens.
    with pytest.raises(ApiException) as denied:
        alice.get_user_token(user.id)
    assert denied.value.status == 403


def test_user_with_activation_mail_fails_without_mail_server(
    tb: RestClientCE, unique: Callable[[str], str]
) -> None:
    customer = tb.save_customer(Customer(title=unique("c")))
    email = f"{unique('bob')}@example.com"
    with pytest.raises(ApiException) as exc:
        tb.save_user(
            User(email=email, authority="CUSTOMER_USER", customer_id=customer.id), send_activation_mail=True
        )
    assert exc.value.status == 500
    assert tb.get_customer_users(customer.id, page_size=10, page=0).total_elements == 0


def test_user_validation(tb: RestClientCE, unique: Callable[[str], str]) -> None:
    with pytest.raises(ApiException) as exc:
        tb.save_user(
            User(email=f"{unique('x')}@e.com", authority="CUSTOMER_USER"), send_activation_mail=False
        )
    assert error_body(exc.value)["message"] == "Customer user should be assigned to customer!"
    with pytest.raises(ApiException) as dup:
        tb.save_user(
            User(email="tenant@thingsboard.org", authority="TENANT_ADMIN"), send_activation_mail=False
        )
    assert (
        error_body(dup.value)["message"]
        == "User with email 'tenant@thingsboard.org' already present in database!"
    )


# --- devices ------------------------------------------------------------------------------------------------


def test_device_create_get_find_list_delete(tb: RestClientCE, unique: Callable[[str], str]) -> None:
    name = unique("dev")
    device = tb.save_device(dev(tb, name=name, label="Kitchen"), access_token=f"tok{name[-10:]}")
    assert device.customer_id.id == NULL_UUID
    assert device.type == "default"
    assert tb.get_device_by_id(device.id).name == name
    assert tb.get_tenant_device(name).id.id == device.id.id
    creds = tb.get_device_credentials_by_device_id(device.id)
    assert creds.credentials_type == "ACCESS_TOKEN"
    assert creds.credentials_id == f"tok{name[-10:]}"
    generated = tb.save_device(dev(tb, name=f"{name}-b"))
    token = tb.get_device_credentials_by_device_id(generated.id).credentials_id
    assert len(token) == 20
    assert token.isalnum()
    page = tb.get_tenant_devices(
        page_size=10, page=0, text_search=name, sort_property="name", sort_order="DESC"
    )
    assert [d.name for d in page.data] == [f"{name}-b", name]
    by_label = tb.get_tenant_devices(page_size=10, page=0, text_search="kitch")
    assert name in [d.name for d in by_label.data]
    with pytest.raises(ApiException) as dup:
        tb.save_device(dev(tb, name=name))
    assert error_body(dup.value)["message"] == "Device with such name already exists!"
    with pytest.raises(ApiException) as dup_token:
        tb.save_device(dev(tb, name=f"{name}-c"), access_token=f"tok{name[-10:]}")
    assert (
        error_body(dup_token.value)["message"] == "Device credentials are already assigned to another device!"
    )
    with pytest.raises(ApiException) as bad_sort:
        tb.get_tenant_devices(page_size=10, page=0, sort_property="name", sort_order="UP")
    assert "Unsupported sort order" in error_body(bad_sort.value)["message"]
    tb.delete_device(device.id)
    with pytest.raises(ApiException) as gone:
        tb.get_device_by_id(device.id)
    assert error_body(gone.value)["message"] == f"Device with id [{device.id.id}] is not found"


def test_assign_unassign_and_owner_aliases(
    sync_emulator: Emulator, tb: RestClientCE, unique: Callable[[str], str]
) -> None:
    customer = tb.save_customer(Customer(title=unique("c")))
    device = tb.save_device(dev(tb, name=unique("d")))
    assigned = tb.assign_device_to_customer(customer.id, device.id)
    assert assigned.customer_id.id == customer.id.id
    listed = tb.get_customer_devices(customer.id, page_size=10, page=0)
    assert [d.name for d in listed.data] == [device.name]
    unassigned = tb.unassign_device_from_customer(device.id)
    assert unassigned.customer_id.id == NULL_UUID
    with pytest.raises(ApiException) as exc:
        tb.unassign_device_from_customer(device.id)
    assert error_body(exc.value)["message"] == "Device isn't assigned to any customer!"
    headers = {"X-Authorization": f"Bearer {tb.token_info['token']}"}
    url = sync_emulator.http_url
    tenant_id = tb.get_user().tenant_id.id
    resp = httpx.post(f"{url}/api/owner/CUSTOMER/{customer.id.id}/DEVICE/{device.id.id}", headers=headers)
    assert (resp.status_code, resp.content) == (200, b"")
    assert tb.get_device_by_id(device.id).customer_id.id == customer.id.id
    resp = httpx.post(f"{url}/api/owner/TENANT/{tenant_id}/DEVICE/{device.id.id}", headers=headers)
    assert resp.status_code == 200
    assert tb.get_device_by_id(device.id).customer_id.id == NULL_UUID


def test_credentials_rotation(
    sync_emulator: Emulator, tb: RestClientCE, unique: Callable[[str], str]
) -> None:
    device = tb.save_device(dev(tb, name=unique("d")), access_token=unique("old"))
    creds = tb.get_device_credentials_by_device_id(device.id)
    old = creds.credentials_id
    creds.credentials_id = unique("new")
    updated = tb.update_device_credentials(creds)
    assert updated.credentials_id == creds.credentials_id
    url = sync_emulator.http_url
    assert httpx.post(f"{url}/api/v1/{old}/telemetry", json={"t": 1}).status_code == 401
    assert httpx.post(f"{url}/api/v1/{creds.credentials_id}/telemetry", json={"t": 1}).status_code == 200


def test_device_profiles(sync_emulator: Emulator, tb: RestClientCE) -> None:
    info = tb.get_default_device_profile_info()
    assert info.name == "default"
    headers = {"X-Authorization": f"Bearer {tb.token_info['token']}"}
    profile = httpx.get(f"{sync_emulator.http_url}/api/deviceProfile/{info.id.id}", headers=headers).json()
    assert profile["default"] is True
    assert profile["provisionType"] == "DISABLED"
    assert profile["profileData"]["provisionConfiguration"] == {
        "type": "DISABLED",
        "provisionDeviceSecret": None,
    }


# --- isolation ----------------------------------------------------------------------------------------------


def test_customer_user_sees_only_its_customer(
    sync_emulator: Emulator, tb: RestClientCE, unique: Callable[[str], str]
) -> None:
    cust_a, _, alice = make_customer_user(tb, sync_emulator, unique("a"))
    cust_b, _, _ = make_customer_user(tb, sync_emulator, unique("b"))
    dev_a = tb.assign_device_to_customer(cust_a.id, tb.save_device(dev(tb, name=unique("da"))).id)
    dev_b = tb.assign_device_to_customer(cust_b.id, tb.save_device(dev(tb, name=unique("db"))).id)
    loose = tb.save_device(dev(tb, name=unique("dl")))
    assert alice.get_device_by_id(dev_a.id).name == dev_a.name
    for other in (dev_b, loose):
        with pytest.raises(ApiException) as exc:
            alice.get_device_by_id(other.id)
        assert error_body(exc.value)["errorCode"] == 20
        with pytest.raises(ApiException):
            alice.get_latest_timeseries(other.id)
    with pytest.raises(ApiException) as listing:
        alice.get_customer_devices(cust_b.id, page_size=10, page=0)
    assert listing.value.status == 403
    mine = alice.get_customer_devices(cust_a.id, page_size=10, page=0)
    assert [d.name for d in mine.data] == [dev_a.name]
    with pytest.raises(ApiException) as claim_by_admin:
        tb.device_controller.claim_device_using_post1(
            device_name=dev_a.name, body=ClaimRequest(secret_key="")
        )
    assert claim_by_admin.value.status == 403


def test_tenants_are_isolated(
    sync_emulator: Emulator, tb: RestClientCE, unique: Callable[[str], str]
) -> None:
    admin = RestClientCE(sync_emulator.http_url)
    admin.login("sysadmin@thingsboard.org", "sysadmin")
    headers = {"X-Authorization": f"Bearer {admin.token_info['token']}"}
    url = sync_emulator.http_url
    tenant = httpx.post(f"{url}/api/tenant", json={"title": unique("t2")}, headers=headers).json()
    email = f"{unique('admin2')}@example.com"
    user = httpx.post(
        f"{url}/api/user?sendActivationMail=false",
        headers=headers,
        json={"email": email, "authority": "TENANT_ADMIN", "tenantId": tenant["id"]},
    ).json()
    pair = admin.get_user_token(UserIdLike(user["id"]["id"]))
    other = {"X-Authorization": f"Bearer {pair.token}"}
    mine = tb.save_device(dev(tb, name=unique("mine")))
    resp = httpx.get(f"{url}/api/device/{mine.id.id}", headers=other)
    assert resp.status_code == 403
    assert (
        httpx.get(f"{url}/api/tenant/devices?pageSize=10&page=0", headers=other).json()["totalElements"] == 0
    )
    assert httpx.get(f"{url}/api/tenant/device?deviceName={mine.name}", headers=other).status_code == 404
    admin.stop()


class UserIdLike:
    """tb-rest-client's ``get_id`` only needs ``.id``; the sysadmin has no customer-user model at hand."""

    def __init__(self, id_: str) -> None:
        self.id = id_
        self.entity_type = "USER"


# --- claiming -----------------------------------------------------------------------------------------------


def test_claiming_outcomes(sync_emulator: Emulator, tb: RestClientCE, unique: Callable[[str], str]) -> None:
    _, _, alice = make_customer_user(tb, sync_emulator, unique("a"))
    _, _, bob = make_customer_user(tb, sync_emulator, unique("b"))
    token = unique("tok")
    device = tb.save_device(dev(tb, name=unique("d")), access_token=token)
    claim = alice.device_controller.claim_device_using_post1

    # No claim registered yet: FAILURE.
    with pytest.raises(ApiException) as exc:
        claim(device_name=device.name, body=ClaimRequest(secret_key="s"))
    assert (exc.value.status, exc.value.body) == (400, b'"FAILURE"')

    tb.claim_device(token, {"secretKey": "s1", "durationMs": 60000})
    tb.claim_device(token, {"secretKey": "s2", "durationMs": 60000})  # putIfAbsent: s1 stays
    with pytest.raises(ApiException) as wrong:
        claim(device_name=device.name, body=ClaimRequest(secret_key="s2"))
    assert wrong.value.body == b'"FAILURE"'
    # The failed attempt evicted the registration, so even the right secret now fails.
    with pytest.raises(ApiException):
        claim(device_name=device.name, body=ClaimRequest(secret_key="s1"))

    tb.claim_device(token, {"secretKey": "s3"})
    result = claim(device_name=device.name, body=ClaimRequest(secret_key="s3"))
    assert result["response"] == "SUCCESS"
    assert alice.get_device_by_id(device.id).name == device.name

    with pytest.raises(ApiException) as taken:
        bob.device_controller.claim_device_using_post1(
            device_name=device.name, body=ClaimRequest(secret_key="s3")
        )
    assert taken.value.body == b'"CLAIMED"'

    alice.re_claim_device(device.name)
    assert tb.get_device_by_id(device.id).customer_id.id == NULL_UUID

    with pytest.raises(ApiException) as unknown:
        claim(device_name="no-such-device", body=ClaimRequest(secret_key=""))
    assert unknown.value.status == 404


def test_claim_with_empty_secret_and_missing_body(
    sync_emulator: Emulator, tb: RestClientCE, unique: Callable[[str], str]
) -> None:
    _, _, alice = make_customer_user(tb, sync_emulator, unique("a"))
    token = unique("tok")
    device = tb.save_device(dev(tb, name=unique("d")), access_token=token)
    assert httpx.post(f"{sync_emulator.http_url}/api/v1/{token}/claim").status_code == 200
    headers = {"X-Authorization": f"Bearer {alice.token_info['token']}"}
    missing = httpx.post(f"{sync_emulator.http_url}/api/customer/device/{device.name}/claim", headers=headers)
    assert missing.status_code == 500
    result = alice.device_controller.claim_device_using_post1(device_name=device.name, body=ClaimRequest())
    assert result["response"] == "SUCCESS"


def test_disabled_user_cannot_log_in(
    sync_emulator: Emulator, tb: RestClientCE, unique: Callable[[str], str]
) -> None:
    name = unique("carol")
    _, user, _ = make_customer_user(tb, sync_emulator, name)
    tb.set_user_credentials_enabled(user.id, user_credentials_enabled=False)
    resp = httpx.post(
        f"{sync_emulator.http_url}/api/auth/login",
        json={"username": f"{name}@example.com", "password": "secret1"},
    )
    assert (resp.status_code, resp.json()["message"]) == (401, "User account is not active")
    tb.set_user_credentials_enabled(user.id, user_credentials_enabled=True)
    resp = httpx.post(
        f"{sync_emulator.http_url}/api/auth/login",
        json={"username": f"{name}@example.com", "password": "secret1"},
    )
    assert resp.status_code == 200


def test_user_token_access_flag(tb: RestClientCE) -> None:
    assert tb.is_user_token_access_enabled() is True


def test_claim_data_from_server_attribute(
    sync_emulator: Emulator, tb: RestClientCE, unique: Callable[[str], str]
) -> None:
    _, _, alice = make_customer_user(tb, sync_emulator, unique("a"))
    device = tb.save_device(dev(tb, name=unique("d")))
    claim = json.dumps({"secretKey": "attr-secret", "expirationTime": 4102444800000})
    tb.save_device_attributes(device.id, "SERVER_SCOPE", {"claimingData": claim})
    with pytest.raises(ApiException) as wrong:
        alice.device_controller.claim_device_using_post1(
            device_name=device.name, body=ClaimRequest(secret_key="x")
        )
    assert wrong.value.body == b'"FAILURE"'
    # The attribute is not a cache entry: a failed attempt does not remove it.
    result = alice.device_controller.claim_device_using_post1(
        device_name=device.name, body=ClaimRequest(secret_key="attr-secret")
    )
    assert result["response"] == "SUCCESS"
    keys = [a["key"] for a in tb.get_attributes_by_scope(device.id, "SERVER_SCOPE")]
    assert "claimingData" not in keys


def test_claiming_not_allowed_by_default_needs_server_attribute(
    sync_emulator: Emulator, tb: RestClientCE, unique: Callable[[str], str]
) -> None:
    sync_emulator.core.config.allow_claiming_by_default = False
    _, _, alice = make_customer_user(tb, sync_emulator, unique("a"))
    token = unique("tok")
    device = tb.save_device(dev(tb, name=unique("d")), access_token=token)
    claim = alice.device_controller.claim_device_using_post1
    tb.claim_device(token, {"secretKey": "k"})
    with pytest.raises(ApiException) as refused:
        claim(device_name=device.name, body=ClaimRequest(secret_key="k"))
    assert refused.value.body == b'"FAILURE"'
    tb.save_device_attributes(device.id, "SERVER_SCOPE", {"claimingAllowed": True})
    tb.claim_device(token, {"secretKey": "k"})
    assert claim(device_name=device.name, body=ClaimRequest(secret_key="k"))["response"] == "SUCCESS"
    alice.re_claim_device(device.name)
    attrs = {a["key"]: a["value"] for a in tb.get_attributes_by_scope(device.id, "SERVER_SCOPE")}
    assert attrs["claimingAllowed"] is True


def test_disabling_credentials_outdates_issued_tokens(
    sync_emulator: Emulator, tb: RestClientCE, unique: Callable[[str], str]
) -> None:
    _, user, alice = make_customer_user(tb, sync_emulator, unique("dora"))
    headers = {"X-Authorization": f"Bearer {alice.token_info['token']}"}
    url = f"{sync_emulator.http_url}/api/auth/user"
    assert httpx.get(url, headers=headers).status_code == 200

    def outdated() -> bool:
        # Tokens carry iat in seconds; one issued in the same second as the change stays valid, as in TB.
        tb.set_user_credentials_enabled(user.id, user_credentials_enabled=False)
        return httpx.get(url, headers=headers).status_code == 401

    wait_for(outdated, timeout=3, interval=0.2)
    resp = httpx.get(url, headers=headers)
    assert resp.json()["message"] == "Token is outdated"
