"""Time series: what devices report over time, read back latest or as history, and written on their behalf."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from petit.thingsboard import mapping
from petit.thingsboard.errors import ThingsBoardProtocolError
from petit.thingsboard.transport import Endpoints, call_json, device_ref

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from uuid import UUID

    from tb_rest_client.rest_client_ce import RestClientCE

    from petit.thingsboard.models import HistoryQuery, Reading, Value


class TelemetryEndpoints(Endpoints):
    async def latest_readings(self, device_id: UUID, keys: Sequence[str]) -> dict[str, Reading | None]:
        wanted = tuple(keys)
        if not wanted:
            return {}
        raw = await self._transport.call(
            lambda rc: rc.get_latest_timeseries(
                device_ref(device_id), keys=",".join(wanted), use_strict_data_types=True
            ),
            idempotent=True,
        )
        return mapping.latest_from_tb(raw, wanted)

    async def reading_history(self, device_id: UUID, query: HistoryQuery) -> dict[str, list[Reading]]:
        if not query.keys:
            return {}
        raw = await self._transport.call(
            lambda rc: rc.get_timeseries(
                device_ref(device_id),
                keys=",".join(query.keys),
                start_ts=query.start_ms,
                end_ts=query.end_ms,
                interval=query.interval_ms,
                limit=query.limit,
                agg=query.aggregation.value,
                order_by=query.order.value,
                use_strict_data_types=True,
            ),
            idempotent=True,
        )
        return mapping.history_from_tb(raw)

    async def telemetry_keys(self, device_id: UUID) -> list[str]:
        raw = await self._transport.call(
            lambda rc: rc.get_timeseries_keys_v1(device_ref(device_id)), idempotent=True
        )
        if not isinstance(raw, list):
            raise ThingsBoardProtocolError("telemetry keys are not a list")
        return [str(k) for k in raw]

    async def save_readings(
        self, device_id: UUID, values: Mapping[str, Value], *, ts_ms: int | None = None
    ) -> None:
        body: dict[str, Any] = {"values": dict(values)}
        # Stamped once here, so a retried write stores the same sample rather than a second one.
        body["ts"] = ts_ms if ts_ms is not None else int(time.time() * 1000)

        def save(rc: RestClientCE) -> Any:
            return call_json(
                rc.api_client,
                f"/api/plugins/telemetry/DEVICE/{device_id}/timeseries/ANY",
                "POST",
                body=body,
                response_type=None,
            )

        await self._transport.call(save, idempotent=True)


__all__ = ["TelemetryEndpoints"]
