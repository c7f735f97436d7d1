"""Persistent server-side RPC (``"persistent": true`` on v2): answered at once with an ``rpcId``."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from thingsboard_emulator.core.model import new_id, now_ms, ref

if TYPE_CHECKING:
    from thingsboard_emulator.core.rpc import RpcEngine

log = logging.getLogger(__name__)


@dataclass(slots=True)
class PersistentRpc:
    id: str
    tenant_id: str
    device_id: str
    request: dict[str, Any]
    expiration_time: int
    status: str = "QUEUED"
    response: Any = None
    created_time: int = field(default_factory=now_ms)
    additional_info: Any = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": ref("RPC", self.id),
            "createdTime": self.created_time,
            "tenantId": ref("TENANT", self.tenant_id),
            "deviceId": ref("DEVICE", self.device_id),
            "expirationTime": self.expiration_time,
            "request": self.request,
            "response": self.response,
            "status": self.status,
            "additionalInfo": self.additional_info,
        }


class PersistentRpcs:
    def __init__(self, engine: RpcEngine) -> None:
        self._engine = engine
        self.records: dict[str, PersistentRpc] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(
        self, tenant_id: str, device_id: str, body: dict[str, Any], *, one_way: bool, timeout_ms: int
    ) -> PersistentRpc:
        record = PersistentRpc(
            new_id(),
            tenant_id,
            device_id,
            {"id": None, "oneway": one_way, "body": {"method": body["method"], "params": body.get("params")}},
            now_ms() + timeout_ms,
            additional_info=body.get("additionalInfo"),
        )
        self.records[record.id] = record
        task = asyncio.get_running_loop().create_task(
            self._run(record, body, one_way=one_way, timeout_ms=timeout_ms)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return record

    async def _run(
        self, record: PersistentRpc, body: dict[str, Any], *, one_way: bool, timeout_ms: int
    ) -> None:
        def delivered() -> None:
            record.status = "DELIVERED" if one_way else "SENT"

        outcome = await self._engine.call(
            record.device_id,
            body["method"],
            body.get("params"),
            one_way=one_way,
            timeout_ms=timeout_ms,
            on_delivered=delivered,
        )
        if outcome.status == "ok":
            record.status = "DELIVERED" if one_way else "SUCCESSFUL"
            record.response = outcome.payload
        elif outcome.status == "bad_reply":
            record.status = "FAILED"
        else:
            record.status = "EXPIRED" if outcome.status == "no_connection" else "TIMEOUT"

    def forget_device(self, device_id: str) -> None:
        for rpc_id in [r.id for r in self.records.values() if r.device_id == device_id]:
            del self.records[rpc_id]

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
