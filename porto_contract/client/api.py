"""petit's API as the app calls it: one method per operation, each bound to its operationId.

``OPERATIONS`` is the single place that says which method and path an operationId has; tests/contract
checks it against porto_contract/openapi.json, so the client cannot silently call a route petit lacks.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from porto_contract.client import models as m
from porto_contract.client.errors import ProblemError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from uuid import UUID

B = TypeVar("B", bound=m.Body)

OPERATIONS: dict[str, tuple[str, str]] = {
    "Signup": ("POST", "/auth/signup"),
    "Login": ("POST", "/auth/login"),
    "RefreshToken": ("POST", "/auth/refresh"),
    "Logout": ("POST", "/auth/logout"),
    "GetMe": ("GET", "/users/me"),
    "StartPairing": ("POST", "/pairings"),
    "GetPairing": ("GET", "/pairings/{pairing_id}"),
    "CancelPairing": ("DELETE", "/pairings/{pairing_id}"),
    "CreateClaimCode": ("POST", "/claims/codes"),
    "ClaimDevice": ("POST", "/claims"),
    "ListDevices": ("GET", "/devices"),
    "GetDevice": ("GET", "/devices/{device_id}"),
    "CreateDevice": ("POST", "/devices"),
    "IssueProvisioningToken": ("POST", "/gateway/devices/{device_id}/provision"),
    "GetLatestTelemetry": ("GET", "/devices/{device_id}/telemetry/latest"),
    "GetTelemetryHistory": ("GET", "/devices/{device_id}/telemetry/history"),
    "SendDeviceCommand": ("POST", "/devices/{device_id}/commands"),
    "GetStreamToken": ("GET", "/streaming/token"),
    "StreamDevices": ("GET", "/devices/stream"),
    "UpdateDevice": ("PATCH", "/devices/{device_id}"),
    "DeleteDevice": ("DELETE", "/devices/{device_id}"),
    "ReleaseDevice": ("POST", "/devices/{device_id}/release"),
    "GetDeviceCredentials": ("GET", "/devices/{device_id}/credentials"),
    "RotateDeviceCredentials": ("POST", "/devices/{device_id}/credentials/rotate"),
    "ListDeviceEvents": ("GET", "/devices/{device_id}/events"),
    "GetDeviceSettings": ("GET", "/devices/{device_id}/settings"),
    "UpdateDeviceSettings": ("PATCH", "/devices/{device_id}/settings"),
    "ReplaceDeviceSettings": ("PUT", "/devices/{device_id}/settings"),
    "ListProvisioningClaims": ("GET", "/gateway/devices/{device_id}/claims"),
    "GetGatewayLatestTelemetry": ("GET", "/gateway/devices/{device_id}/telemetry/latest"),
    "AllowReprovision": ("POST", "/provisioning/devices/{device_id}/reprovision"),
    "ShareDevice": ("POST", "/devices/{device_id}/shares"),
    "ListDeviceShares": ("GET", "/devices/{device_id}/shares"),
    "UpdateDeviceShare": ("PATCH", "/devices/{device_id}/shares/{share_id}"),
    "RevokeDeviceShare": ("DELETE", "/devices/{device_id}/shares/{share_id}"),
    "ListIncomingShares": ("GET", "/shares/incoming"),
    "AcceptShare": ("POST", "/shares/{share_id}/accept"),
    "DeclineShare": ("POST", "/shares/{share_id}/decline"),
    "OfferTransfer": ("POST", "/devices/{device_id}/transfer"),
    "CancelTransfer": ("DELETE", "/devices/{device_id}/transfer"),
    "AcceptTransfer": ("POST", "/transfers/{transfer_id}/accept"),
}

# Which schema each operation sends and which it answers with (None: no body), for the contract check.
BODIES: dict[str, tuple[type[m.Body] | None, type[m.Body] | None]] = {
    "Signup": (m.SignupRequest, m.UserRead),
    "Login": (m.LoginRequest, m.TokenPair),
    "RefreshToken": (m.RefreshRequest, m.TokenPair),
    "Logout": (None, None),
    "GetMe": (None, m.UserRead),
    "StartPairing": (m.PairingCreate, m.PairingStarted),
    "GetPairing": (None, m.PairingRead),
    "CancelPairing": (None, None),
    "CreateClaimCode": (None, m.ClaimCodeCreated),
    "ClaimDevice": (m.ClaimRequest, m.DeviceRead),
    "ListDevices": (None, m.DevicePage),
    "GetDevice": (None, m.DeviceRead),
    "CreateDevice": (m.DeviceCreate, m.DeviceRead),
    "IssueProvisioningToken": (m.ProvisioningTokenCreate, m.ProvisioningTokenIssued),
    "GetLatestTelemetry": (None, m.LatestTelemetryRead),
    "GetTelemetryHistory": (None, m.TelemetryHistoryRead),
    "SendDeviceCommand": (m.CommandCreate, m.CommandResultRead),
    "GetStreamToken": (None, m.StreamTokenRead),
    # An event stream, not JSON: PortoClient.stream_events reads it.
    "StreamDevices": (None, None),
    "UpdateDevice": (m.DeviceUpdate, m.DeviceRead),
    "DeleteDevice": (None, None),
    "ReleaseDevice": (None, None),
    "GetDeviceCredentials": (None, m.DeviceCredentialsRead),
    "RotateDeviceCredentials": (None, m.DeviceCredentialsRead),
    "ListDeviceEvents": (None, m.DeviceEventPage),
    "GetDeviceSettings": (None, m.DeviceSettingsRead),
    "UpdateDeviceSettings": (m.DeviceSettingsUpdate, m.DeviceSettingsRead),
    "ReplaceDeviceSettings": (m.DeviceSettingsReplace, m.DeviceSettingsRead),
    "ListProvisioningClaims": (None, m.ProvisioningClaimList),
    "GetGatewayLatestTelemetry": (None, m.GatewayLatestTelemetry),
    "AllowReprovision": (None, m.ReprovisionApproval),
    "ShareDevice": (m.ShareCreate, m.ShareRead),
    "ListDeviceShares": (None, m.ShareList),
    "UpdateDeviceShare": (m.ShareUpdate, m.ShareRead),
    "RevokeDeviceShare": (None, None),
    "ListIncomingShares": (None, m.IncomingShareList),
    "AcceptShare": (None, m.ShareRead),
    "DeclineShare": (None, None),
    "OfferTransfer": (m.TransferCreate, m.TransferRead),
    "CancelTransfer": (None, None),
    "AcceptTransfer": (m.TransferAccept, m.TransferAccepted),
}


def _keys(keys: list[str] | None) -> str | None:
    return ",".join(keys) if keys else None


class PortoClient:
    """Synchronous client for petit. Holds the user's tokens and refreshes them once on a 401.

    ``on_tokens`` is called whenever a new token pair arrives (login or refresh), so a caller such as the CLI
    can persist it: refresh tokens are single use.
    """

    def __init__(
        self,
        base_url: str,
        *,
        tokens: m.TokenPair | None = None,
        on_tokens: Callable[[m.TokenPair], None] | None = None,
        timeout_s: float = 15.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout_s, transport=transport)
        self.tokens = tokens
        self.on_tokens = on_tokens

    def __enter__(self) -> PortoClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    # --- plumbing

    def _request(
        self,
        operation: str,
        *,
        path: dict[str, Any] | None = None,
        body: m.Body | None = None,
        query: dict[str, Any] | None = None,
        auth: bool = True,
    ) -> Any:
        method, template = OPERATIONS[operation]
        url = template.format(**{k: str(v) for k, v in (path or {}).items()})
        params = {k: v for k, v in (query or {}).items() if v is not None}
        json_body = body.to_json() if body is not None else None
        response = self.http.request(method, url, json=json_body, params=params, headers=self._auth(auth))
        if response.status_code == 401 and auth and self.tokens is not None and operation != "RefreshToken":
            self.refresh()
            response = self.http.request(method, url, json=json_body, params=params, headers=self._auth(auth))
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = response.text
            raise ProblemError.from_response(response.status_code, problem, response.reason_phrase)
        return response.json() if response.content else None

    def _auth(self, auth: bool) -> dict[str, str]:  # noqa: FBT001 - internal
        if auth and self.tokens is not None:
            return {"Authorization": f"Bearer {self.tokens.access_token}"}
        return {}

    def _store(self, tokens: m.TokenPair) -> m.TokenPair:
        self.tokens = tokens
        if self.on_tokens is not None:
            self.on_tokens(tokens)
        return tokens

    @staticmethod
    def _parse(model: type[B], data: Any) -> B:
        return model.model_validate(data)

    # --- accounts

    def signup(self, email: str, password: str) -> m.UserRead:
        data = self._request("Signup", body=m.SignupRequest(email=email, password=password), auth=False)
        return self._parse(m.UserRead, data)

    def login(self, email: str, password: str) -> m.TokenPair:
        data = self._request("Login", body=m.LoginRequest(email=email, password=password), auth=False)
        return self._store(self._parse(m.TokenPair, data))

    def refresh(self) -> m.TokenPair:
        if self.tokens is None:
            raise ProblemError(401, "not_logged_in", "Log in first")
        body = m.RefreshRequest(refresh_token=self.tokens.refresh_token)
        data = self._request("RefreshToken", body=body, auth=False)
        return self._store(self._parse(m.TokenPair, data))

    def logout(self) -> None:
        if self.tokens is not None:
            self._request("Logout")
            self.tokens = None

    def me(self) -> m.UserRead:
        return self._parse(m.UserRead, self._request("GetMe"))

    # --- pairing and claiming

    def start_pairing(self, name: str, label: str | None = None) -> m.PairingStarted:
        data = self._request("StartPairing", body=m.PairingCreate(name=name, label=label))
        return self._parse(m.PairingStarted, data)

    def get_pairing(self, pairing_id: UUID | str) -> m.PairingRead:
        return self._parse(m.PairingRead, self._request("GetPairing", path={"pairing_id": pairing_id}))

    def cancel_pairing(self, pairing_id: UUID | str) -> None:
        self._request("CancelPairing", path={"pairing_id": pairing_id})

    def create_claim_code(self) -> m.ClaimCodeCreated:
        return self._parse(m.ClaimCodeCreated, self._request("CreateClaimCode"))

    def claim_device(self, device_name: str, claim_code: str) -> m.DeviceRead:
        body = m.ClaimRequest(device_name=device_name, claim_code=claim_code)
        return self._parse(m.DeviceRead, self._request("ClaimDevice", body=body))

    # --- devices and their data

    def list_devices(self, limit: int = 50, offset: int = 0) -> m.DevicePage:
        data = self._request("ListDevices", query={"limit": limit, "offset": offset})
        return self._parse(m.DevicePage, data)

    def get_device(self, device_id: UUID | str) -> m.DeviceRead:
        return self._parse(m.DeviceRead, self._request("GetDevice", path={"device_id": device_id}))

    def create_device(self, name: str, label: str | None = None) -> m.DeviceRead:
        """A device the user registers by hand (e.g. one that will use seed 004's HTTP gateway)."""
        data = self._request("CreateDevice", body=m.DeviceCreate(name=name, label=label))
        return self._parse(m.DeviceRead, data)

    def issue_provisioning_token(
        self,
        device_id: UUID | str,
        *,
        lifetime_minutes: int | None = None,
        never_expires: bool | None = None,
        notes: str | None = None,
    ) -> m.ProvisioningTokenIssued:
        """Seed 004: a one-time token the device exchanges at POST /gateway/devices/claim."""
        body = m.ProvisioningTokenCreate(
            lifetime_minutes=lifetime_minutes, never_expires=never_expires, notes=notes
        )
        data = self._request("IssueProvisioningToken", path={"device_id": device_id}, body=body)
        return self._parse(m.ProvisioningTokenIssued, data)

    def latest_telemetry(self, device_id: UUID | str, keys: list[str] | None = None) -> m.LatestTelemetryRead:
        data = self._request("GetLatestTelemetry", path={"device_id": device_id}, query={"keys": _keys(keys)})
        return self._parse(m.LatestTelemetryRead, data)

    def telemetry_history(
        self,
        device_id: UUID | str,
        keys: list[str] | None = None,
        *,
        start_ts: int | None = None,
        end_ts: int | None = None,
        limit: int | None = None,
    ) -> m.TelemetryHistoryRead:
        query = {"keys": _keys(keys), "startTs": start_ts, "endTs": end_ts, "limit": limit}
        data = self._request("GetTelemetryHistory", path={"device_id": device_id}, query=query)
        return self._parse(m.TelemetryHistoryRead, data)

    def send_command(
        self,
        device_id: UUID | str,
        function: str,
        params: Any = None,
        *,
        oneway: bool = False,
        timeout_ms: int | None = None,
    ) -> m.CommandResultRead:
        body = m.CommandCreate(
            function=function, params=params, mode="oneway" if oneway else "twoway", timeout_ms=timeout_ms
        )
        data = self._request("SendDeviceCommand", path={"device_id": device_id}, body=body)
        return self._parse(m.CommandResultRead, data)

    def stream_token(self) -> m.StreamTokenRead:
        return self._parse(m.StreamTokenRead, self._request("GetStreamToken"))

    # --- a device's life after it joined (rename, settings, audit, credentials, release)

    def update_device(
        self, device_id: UUID | str, *, name: str | None = None, label: str | None = None
    ) -> m.DeviceRead:
        data = self._request(
            "UpdateDevice", path={"device_id": device_id}, body=m.DeviceUpdate(name=name, label=label)
        )
        return self._parse(m.DeviceRead, data)

    def delete_device(self, device_id: UUID | str) -> None:
        self._request("DeleteDevice", path={"device_id": device_id})

    # --- sharing and ownership transfer

    def share_device(self, device_id: UUID | str, email: str, role: str) -> m.ShareRead:
        data = self._request(
            "ShareDevice", path={"device_id": device_id}, body=m.ShareCreate(email=email, role=role)
        )
        return self._parse(m.ShareRead, data)

    def list_device_shares(self, device_id: UUID | str) -> m.ShareList:
        return self._parse(m.ShareList, self._request("ListDeviceShares", path={"device_id": device_id}))

    def update_device_share(self, device_id: UUID | str, share_id: UUID | str, role: str) -> m.ShareRead:
        data = self._request(
            "UpdateDeviceShare",
            path={"device_id": device_id, "share_id": share_id},
            body=m.ShareUpdate(role=role),
        )
        return self._parse(m.ShareRead, data)

    def revoke_device_share(self, device_id: UUID | str, share_id: UUID | str) -> None:
        self._request("RevokeDeviceShare", path={"device_id": device_id, "share_id": share_id})

    def incoming_shares(self) -> m.IncomingShareList:
        return self._parse(m.IncomingShareList, self._request("ListIncomingShares"))

    def accept_share(self, share_id: UUID | str) -> m.ShareRead:
        return self._parse(m.ShareRead, self._request("AcceptShare", path={"share_id": share_id}))

    def decline_share(self, share_id: UUID | str) -> None:
        self._request("DeclineShare", path={"share_id": share_id})

    def offer_transfer(self, device_id: UUID | str, email: str) -> m.TransferRead:
        data = self._request(
            "OfferTransfer", path={"device_id": device_id}, body=m.TransferCreate(email=email)
        )
        return self._parse(m.TransferRead, data)

    def cancel_transfer(self, device_id: UUID | str) -> None:
        self._request("CancelTransfer", path={"device_id": device_id})

    def accept_transfer(self, transfer_id: UUID | str, *, keep_shares: bool = False) -> m.TransferAccepted:
        data = self._request(
            "AcceptTransfer",
            path={"transfer_id": transfer_id},
            body=m.TransferAccept(keep_shares=keep_shares),
        )
        return self._parse(m.TransferAccepted, data)

    def release_device(self, device_id: UUID | str) -> None:
        self._request("ReleaseDevice", path={"device_id": device_id})

    def device_credentials(self, device_id: UUID | str) -> m.DeviceCredentialsRead:
        data = self._request("GetDeviceCredentials", path={"device_id": device_id})
        return self._parse(m.DeviceCredentialsRead, data)

    def rotate_device_credentials(self, device_id: UUID | str) -> m.DeviceCredentialsRead:
        data = self._request("RotateDeviceCredentials", path={"device_id": device_id})
        return self._parse(m.DeviceCredentialsRead, data)

    def device_events(self, device_id: UUID | str, *, limit: int = 50, offset: int = 0) -> m.DeviceEventPage:
        query = {"limit": limit, "offset": offset}
        data = self._request("ListDeviceEvents", path={"device_id": device_id}, query=query)
        return self._parse(m.DeviceEventPage, data)

    def device_settings(self, device_id: UUID | str) -> m.DeviceSettingsRead:
        data = self._request("GetDeviceSettings", path={"device_id": device_id})
        return self._parse(m.DeviceSettingsRead, data)

    def update_device_settings(self, device_id: UUID | str, values: dict[str, Any]) -> m.DeviceSettingsRead:
        """A JSON merge patch: a None value removes that key."""
        body = m.DeviceSettingsUpdate(values=values)
        data = self._request("UpdateDeviceSettings", path={"device_id": device_id}, body=body)
        return self._parse(m.DeviceSettingsRead, data)

    def replace_device_settings(self, device_id: UUID | str, values: dict[str, Any]) -> m.DeviceSettingsRead:
        body = m.DeviceSettingsReplace(values=values)
        data = self._request("ReplaceDeviceSettings", path={"device_id": device_id}, body=body)
        return self._parse(m.DeviceSettingsRead, data)

    def allow_reprovision(self, device_id: UUID | str) -> m.ReprovisionApproval:
        data = self._request("AllowReprovision", path={"device_id": device_id})
        return self._parse(m.ReprovisionApproval, data)

    # --- seed 004's gateway, as its owner sees it

    def provisioning_claims(self, device_id: UUID | str) -> m.ProvisioningClaimList:
        data = self._request("ListProvisioningClaims", path={"device_id": device_id})
        return self._parse(m.ProvisioningClaimList, data)

    def gateway_latest_telemetry(self, device_id: UUID | str) -> m.GatewayLatestTelemetry:
        data = self._request("GetGatewayLatestTelemetry", path={"device_id": device_id})
        return self._parse(m.GatewayLatestTelemetry, data)

    # --- the Server-Sent Events stream (the same frames as /ws)

    def stream_events(
        self,
        *,
        devices: list[str] | None = None,
        keys: list[str] | None = None,
        timeout_s: float | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield each event's JSON until the server ends the stream or ``timeout_s`` passes."""
        method, url = OPERATIONS["StreamDevices"]
        params = {k: v for k, v in {"devices": _keys(devices), "keys": _keys(keys)}.items() if v is not None}
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        # The read timeout bounds each wait for a line; the server sends keep-alive comments meanwhile.
        read = 30.0 if timeout_s is None else max(0.1, timeout_s)
        timeout = httpx.Timeout(10.0, read=read)
        with self.http.stream(
            method, url, params=params, headers=self._auth(auth=True), timeout=timeout
        ) as response:
            if response.status_code >= 400:
                response.read()
                try:
                    problem = response.json()
                except ValueError:
                    problem = response.text
                raise ProblemError.from_response(response.status_code, problem, response.reason_phrase)
            try:
                for line in response.iter_lines():
                    if line.startswith("data:"):
                        yield json.loads(line[5:].strip())
                    if deadline is not None and time.monotonic() >= deadline:
                        return
            except httpx.ReadTimeout:
                if deadline is None:
                    raise
