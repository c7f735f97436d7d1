"""petit's ThingsBoard adapter: the only package that knows ThingsBoard's API, URLs and vocabulary."""

from petit.thingsboard.client import ThingsBoardClient
from petit.thingsboard.errors import (
    ThingsBoardAuthError,
    ThingsBoardBadRequestError,
    ThingsBoardClaimRejectedError,
    ThingsBoardConflictError,
    ThingsBoardError,
    ThingsBoardForbiddenError,
    ThingsBoardNotFoundError,
    ThingsBoardProtocolError,
    ThingsBoardRateLimitedError,
    ThingsBoardTimeoutError,
    ThingsBoardUnavailableError,
)
from petit.thingsboard.fake import FakeThingsBoard
from petit.thingsboard.models import (
    Aggregation,
    AttributeScope,
    DeviceCredentials,
    DeviceRecord,
    HistoryQuery,
    OwnerAccount,
    Page,
    Reading,
    SortOrder,
    StreamAccess,
    ThingsBoardConfig,
    Value,
)
from petit.thingsboard.port import TelemetryStreamPort, ThingsBoardPort
from petit.thingsboard.stream import (
    DeviceConnectivity,
    DeviceReadings,
    StreamEvent,
    StreamListener,
    ThingsBoardStream,
)
from petit.thingsboard.tokens import MemoryTokenStore, RedisTokenStore, TokenStore

__all__ = [
    "Aggregation",
    "AttributeScope",
    "DeviceConnectivity",
    "DeviceCredentials",
    "DeviceReadings",
    "DeviceRecord",
    "FakeThingsBoard",
    "HistoryQuery",
    "MemoryTokenStore",
    "OwnerAccount",
    "Page",
    "Reading",
    "RedisTokenStore",
    "SortOrder",
    "StreamAccess",
    "StreamEvent",
    "StreamListener",
    "TelemetryStreamPort",
    "ThingsBoardAuthError",
    "ThingsBoardBadRequestError",
    "ThingsBoardClaimRejectedError",
    "ThingsBoardClient",
    "ThingsBoardConfig",
    "ThingsBoardConflictError",
    "ThingsBoardError",
    "ThingsBoardForbiddenError",
    "ThingsBoardNotFoundError",
    "ThingsBoardPort",
    "ThingsBoardProtocolError",
    "ThingsBoardRateLimitedError",
    "ThingsBoardStream",
    "ThingsBoardTimeoutError",
    "ThingsBoardUnavailableError",
    "TokenStore",
    "Value",
]
