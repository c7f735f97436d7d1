"""Values the ThingsBoard port returns, in petit's vocabulary.

Nothing here carries a ThingsBoard name: ``owner_id`` is TB's customer, ``account_id`` TB's customer user,
``settings`` TB's shared attributes. ``mapping.py`` is the only code that converts between the two.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from uuid import UUID

T = TypeVar("T")

#: A telemetry or attribute value after typing: numbers stay numbers.
Value = bool | int | float | str | dict[str, Any] | list[Any] | None


@dataclass(frozen=True, slots=True)
class ThingsBoardConfig:
    """How to reach ThingsBoard; the app maps its ``Settings.thingsboard`` group onto this."""

    url: str
    username: str
    password: str = field(repr=False)
    request_timeout_s: float = 5.0
    max_workers: int = 8
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 1883
    #: Refresh a token this long before it expires, so no request carries one that dies in flight.
    token_refresh_skew_s: float = 60.0
    #: Attempts per idempotent call (first try included).
    max_attempts: int = 3
    #: Title prefix of the customer created per petit user; ops search for it in ThingsBoard's UI.
    customer_title_prefix: str = "petit user "
    #: Prefix of the token cache keys in Redis, so several deployments can share one Redis.
    key_prefix: str = "petit:tb"


@dataclass(frozen=True, slots=True)
class OwnerAccount:
    """The ThingsBoard side of one petit user: their customer and the customer's single user."""

    owner_id: UUID
    account_id: UUID
    title: str
    email: str


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """A device as ThingsBoard knows it."""

    id: UUID
    name: str
    label: str | None
    profile: str
    #: The customer it is assigned to; ``None`` when it belongs to the tenant only.
    owner_id: UUID | None
    created_at_ms: int


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: tuple[T, ...]
    total: int
    has_next: bool


@dataclass(frozen=True, slots=True)
class DeviceCredentials:
    """What a device needs to connect: its access token (the MQTT username) and where to connect."""

    device_id: UUID
    access_token: str = field(repr=False)
    mqtt_host: str
    mqtt_port: int


@dataclass(frozen=True, slots=True)
class Reading:
    """One telemetry sample; ``ts_ms`` is epoch milliseconds."""

    ts_ms: int
    value: Value


class Aggregation(enum.StrEnum):
    NONE = "NONE"
    MIN = "MIN"
    MAX = "MAX"
    AVG = "AVG"
    SUM = "SUM"
    COUNT = "COUNT"


class SortOrder(enum.StrEnum):
    ASC = "ASC"
    DESC = "DESC"


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    keys: tuple[str, ...]
    start_ms: int
    end_ms: int
    limit: int = 100
    aggregation: Aggregation = Aggregation.NONE
    interval_ms: int = 0
    order: SortOrder = SortOrder.DESC


class AttributeScope(enum.StrEnum):
    """Which side of a device's key-value state: desired settings, server-only notes, or what it reports."""

    SETTINGS = "settings"
    SERVER = "server"
    REPORTED = "reported"


@dataclass(frozen=True, slots=True)
class TokenPair:
    """A ThingsBoard JWT pair with its expiry times (epoch seconds) read from the tokens themselves."""

    access: str = field(repr=False)
    refresh: str | None = field(repr=False)
    access_exp: float
    refresh_exp: float | None
    #: When ThingsBoard minted the access token (its ``iat``); the refresh margin scales with the lifetime.
    issued_at: float = 0.0


@dataclass(frozen=True, slots=True)
class StreamAccess:
    """A customer-scoped token and the WebSocket endpoint an app streams telemetry from directly."""

    token: str = field(repr=False)
    expires_at: float
    ws_url: str


__all__ = [
    "Aggregation",
    "AttributeScope",
    "DeviceCredentials",
    "DeviceRecord",
    "HistoryQuery",
    "OwnerAccount",
    "Page",
    "Reading",
    "SortOrder",
    "StreamAccess",
    "ThingsBoardConfig",
    "TokenPair",
    "Value",
]
