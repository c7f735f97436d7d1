import uuid
from typing import Any

from pydantic import Field

from petit.lib.schema import CamelModel
from petit.thingsboard.models import Aggregation, SortOrder

__all__ = ["Aggregation", "LatestTelemetryRead", "ReadingRead", "SortOrder", "TelemetryHistoryRead"]


class ReadingRead(CamelModel):
    ts: int = Field(description="When the device measured it, epoch milliseconds")
    value: Any = Field(
        description="Numbers and booleans come back typed even when the device sent them as strings"
    )


class LatestTelemetryRead(CamelModel):
    device_id: uuid.UUID
    values: dict[str, ReadingRead | None] = Field(
        description="One entry per requested key; null for a key the device never reported"
    )


class TelemetryHistoryRead(CamelModel):
    device_id: uuid.UUID
    start_ts: int
    end_ts: int
    aggregation: Aggregation
    interval_ms: int | None
    series: dict[str, list[ReadingRead]] = Field(
        description="One entry per requested key, newest first unless order=ASC; "
        "a key the device never reported has an empty list"
    )
