"""The device-local API (porto_contract/device/local-api.openapi.json), as the app calls it on the device's
access point. ``OPERATIONS`` is checked against that document by tests/contract."""

from __future__ import annotations

from typing import Any

import httpx

from porto_contract.client import models as m
from porto_contract.client.errors import ProblemError

OPERATIONS: dict[str, tuple[str, str]] = {
    "postConfigData": ("POST", "/config/data"),
    "getCurrentStatus": ("GET", "/config/current-status"),
    "getInfo": ("GET", "/info"),
    "getScan": ("GET", "/scan"),
    "postReset": ("POST", "/reset"),
}

BODIES: dict[str, tuple[type[m.Body] | None, type[m.Body] | None]] = {
    "postConfigData": (m.ConfigData, m.DeviceStatus),
    "getCurrentStatus": (None, m.DeviceStatus),
    "getInfo": (None, m.DeviceInfo),
    "getScan": (None, m.WifiNetwork),
    "postReset": (None, None),
}


class DeviceClient:
    """Talks to one device's local API; errors come back as ProblemError with the device's error code."""

    def __init__(self, base_url: str, *, timeout_s: float = 5.0, owner_key: str | None = None) -> None:
        self.http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout_s)
        self.owner_key = owner_key

    def __enter__(self) -> DeviceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def _request(
        self, operation: str, body: m.Body | None = None, headers: dict[str, str] | None = None
    ) -> Any:
        method, path = OPERATIONS[operation]
        json_body = body.to_json() if body is not None else None
        response = self.http.request(method, path, json=json_body, headers=headers)
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = response.text
            raise ProblemError.from_response(response.status_code, problem, response.reason_phrase)
        return response.json() if response.content else None

    def configure(self, config: m.ConfigData) -> m.DeviceStatus:
        """Accepted (202): the device starts joining Wi-Fi; poll ``status()`` for the outcome."""
        return m.DeviceStatus.model_validate(self._request("postConfigData", config))

    def status(self) -> m.DeviceStatus:
        return m.DeviceStatus.model_validate(self._request("getCurrentStatus"))

    def info(self) -> m.DeviceInfo:
        return m.DeviceInfo.model_validate(self._request("getInfo"))

    def scan(self) -> list[m.WifiNetwork]:
        return [m.WifiNetwork.model_validate(item) for item in self._request("getScan")]

    def reset(self) -> None:
        headers = {"X-Owner-Key": self.owner_key} if self.owner_key else None
        self._request("postReset", headers=headers)
