"""petit's API as the app calls it: one method per operation, each bound to its operationId.

``OPERATIONS`` is the single place that says which method and path an operationId has; tests/contract
checks it against porto_contract/openapi.json, so the client cannot silently call a route petit lacks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from porto_contract.client import models as m
from porto_contract.client.errors import ProblemError

if TYPE_CHECKING:
    from collections.abc import Callable
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
        self, device_id: UUID | str, *, lifetime_minutes: int | None = None, notes: str | None = None
    ) -> m.ProvisioningTokenIssued:
        """Seed 004: a one-time token the device exchanges at POST /gateway/devices/claim."""
        body = m.ProvisioningTokenCreate(lifetime_minutes=lifetime_minutes, notes=notes)
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
