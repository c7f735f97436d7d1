"""``FakeThingsBoard``: the port in memory, for tests of feature services that need no real ThingsBoard.

It keeps ThingsBoard's observable rules that feature code relies on (unique device names and tokens,
idempotent owners, 404 for unknown ids, offline devices time out) and has switches to inject failures:
``down`` makes every call raise ``ThingsBoardUnavailableError``; ``fail_next(method, error)`` fails one call.
"""

from __future__ import annotations

import itertools
import secrets
import string
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from petit.thingsboard.errors import (
    ThingsBoardBadRequestError,
    ThingsBoardClaimRejectedError,
    ThingsBoardConflictError,
    ThingsBoardError,
    ThingsBoardNotFoundError,
    ThingsBoardTimeoutError,
    ThingsBoardUnavailableError,
)
from petit.thingsboard.mapping import (
    LAST_CONNECT_TIME,
    PAIRING_PROOF,
    connected_since_from_tb,
    customer_title,
    ws_url,
)
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
    Value,
)
from petit.thingsboard.stream import DeviceConnectivity, DeviceReadings, StreamEvent, StreamListener

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from datetime import datetime

    from petit.thingsboard.port import ThingsBoardPort

    #: Handles a command on an online fake device: ``(method, params) -> reply``.
    CommandHandler = Callable[[str, Any], Any]


@dataclass
class _Device:
    record: DeviceRecord
    token: str
    telemetry: dict[str, list[Reading]] = field(default_factory=lambda: defaultdict(list))
    attributes: dict[AttributeScope, dict[str, Value]] = field(default_factory=lambda: defaultdict(dict))
    claim_secret: str | None = None


def _aggregate(samples: list[Reading], aggregation: Aggregation) -> Value:
    numbers = [s.value for s in samples if isinstance(s.value, int | float) and not isinstance(s.value, bool)]
    if aggregation is Aggregation.COUNT:
        return len(samples)
    if not numbers:
        return None
    if aggregation is Aggregation.MIN:
        return min(numbers)
    if aggregation is Aggregation.MAX:
        return max(numbers)
    if aggregation is Aggregation.SUM:
        return sum(numbers)
    return sum(numbers) / len(numbers)


class FakeStream:
    """The push side in memory: ``FakeThingsBoard.record_reading`` reaches the streams watching the device."""

    def __init__(self, owner: FakeThingsBoard, listener: StreamListener) -> None:
        self._owner = owner
        self._listener = listener
        self.devices: set[uuid.UUID] = set()

    @property
    def watched(self) -> int:
        return len(self.devices)

    def watch(self, device_id: uuid.UUID) -> None:
        self.devices.add(device_id)

    def unwatch(self, device_id: uuid.UUID) -> None:
        self.devices.discard(device_id)

    def is_live(self, device_id: uuid.UUID) -> bool:
        return device_id in self.devices

    def deliver(self, event: StreamEvent) -> None:
        if event.device_id in self.devices:
            self._listener(event)

    async def aclose(self) -> None:
        self.devices.clear()
        if self in self._owner.streams:
            self._owner.streams.remove(self)


class FakeThingsBoard:
    """In-memory ``ThingsBoardPort``."""

    def __init__(
        self,
        *,
        mqtt_host: str = "127.0.0.1",
        mqtt_port: int = 1883,
        url: str = "http://thingsboard.invalid",
        customer_title_prefix: str = "petit user ",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.mqtt_host = mqtt_host
        self.mqtt_port = mqtt_port
        self.url = url
        self.customer_title_prefix = customer_title_prefix
        self.clock = clock
        #: When True every call raises ThingsBoardUnavailableError, like TB being down.
        self.down = False
        self.owners: dict[uuid.UUID, OwnerAccount] = {}
        self.devices: dict[uuid.UUID, _Device] = {}
        #: Online devices and how they answer commands; a device absent here is offline.
        self.online: dict[uuid.UUID, CommandHandler] = {}
        self.calls: list[str] = []
        self._failures: dict[str, list[ThingsBoardError]] = defaultdict(list)
        self._created = itertools.count(1)
        self.streams: list[FakeStream] = []
        #: Device profiles that allow self-provisioning: name -> (provision key, provision secret).
        self.provisioning_profiles: dict[str, tuple[str, str]] = {}

    # Test switches

    def fail_next(self, method: str, error: ThingsBoardError) -> None:
        self._failures[method].append(error)

    def _enter(self, method: str) -> None:
        self.calls.append(method)
        if self.down:
            raise ThingsBoardUnavailableError("fake ThingsBoard is down", request_sent=False)
        if self._failures.get(method):
            raise self._failures[method].pop(0)

    def _device(self, device_id: uuid.UUID) -> _Device:
        device = self.devices.get(device_id)
        if device is None:
            raise ThingsBoardNotFoundError(f"Device with id [{device_id}] is not found", status=404)
        return device

    def record_reading(self, device_id: uuid.UUID, key: str, value: Value, ts_ms: int | None = None) -> None:
        """What a device publishing telemetry would cause."""
        ts = ts_ms if ts_ms is not None else int(self.clock() * 1000)
        reading = Reading(ts_ms=ts, value=value)
        self._device(device_id).telemetry[key].append(reading)
        for stream in list(self.streams):
            stream.deliver(DeviceReadings(device_id=device_id, readings={key: reading}))

    def set_connectivity(self, device_id: uuid.UUID, *, online: bool, ts_ms: int | None = None) -> None:
        """What a device connecting to or leaving the MQTT broker would cause: stream events and, on
        connect, the connection time ThingsBoard records."""
        ts = ts_ms if ts_ms is not None else int(self.clock() * 1000)
        if online and device_id in self.devices:
            self.devices[device_id].attributes[AttributeScope.SERVER][LAST_CONNECT_TIME] = ts
        for stream in list(self.streams):
            stream.deliver(DeviceConnectivity(device_id=device_id, online=online, ts_ms=ts))

    def report_attributes(self, device_id: uuid.UUID, values: Mapping[str, Value]) -> None:
        """What a device publishing client attributes would cause (e.g. its pairing proof)."""
        self._device(device_id).attributes[AttributeScope.REPORTED].update(values)

    def register_claim(self, device_name: str, secret_key: str = "") -> None:
        """What a device publishing to its claim topic would cause."""
        device = next((d for d in self.devices.values() if d.record.name == device_name), None)
        if device is None:
            raise ThingsBoardNotFoundError("Requested item wasn't found!", status=404)
        if device.record.owner_id is None:
            device.claim_secret = secret_key

    # Port

    async def check_health(self) -> None:
        self._enter("check_health")

    async def ensure_owner(self, email: str) -> OwnerAccount:
        self._enter("ensure_owner")
        existing = self._lookup_owner(email)
        if existing is not None:
            return existing
        owner = OwnerAccount(
            owner_id=uuid.uuid4(),
            account_id=uuid.uuid4(),
            title=customer_title(self.customer_title_prefix, email),
            email=email.strip().lower(),
        )
        self.owners[owner.owner_id] = owner
        return owner

    def _lookup_owner(self, email: str) -> OwnerAccount | None:
        title = customer_title(self.customer_title_prefix, email)
        return next((o for o in self.owners.values() if o.title == title), None)

    async def find_owner(self, email: str) -> OwnerAccount | None:
        self._enter("find_owner")
        return self._lookup_owner(email)

    async def delete_owner(self, owner_id: uuid.UUID) -> None:
        self._enter("delete_owner")
        if self.owners.pop(owner_id, None) is None:
            return
        for device in self.devices.values():
            if device.record.owner_id == owner_id:
                device.record = replace(device.record, owner_id=None)

    async def stream_access(self, account_id: uuid.UUID) -> StreamAccess:
        self._enter("stream_access")
        if not any(o.account_id == account_id for o in self.owners.values()):
            raise ThingsBoardNotFoundError(f"User with id [{account_id}] is not found", status=404)
        return StreamAccess(
            token=f"fake-{account_id}", expires_at=self.clock() + 900, ws_url=ws_url(self.url)
        )

    async def create_device(
        self,
        name: str,
        *,
        owner_id: uuid.UUID | None,
        label: str | None = None,
        profile: str = "default",
        access_token: str | None = None,
    ) -> DeviceRecord:
        self._enter("create_device")
        if any(d.record.name == name for d in self.devices.values()):
            raise ThingsBoardConflictError("Device with such name already exists!", status=400)
        if access_token is not None and any(d.token == access_token for d in self.devices.values()):
            raise ThingsBoardConflictError(
                "Device credentials are already assigned to another device!", status=400
            )
        if owner_id is not None and owner_id not in self.owners:
            raise ThingsBoardNotFoundError(f"Customer with id [{owner_id}] is not found", status=404)
        record = DeviceRecord(
            id=uuid.uuid4(),
            name=name,
            label=label,
            profile=profile,
            owner_id=owner_id,
            created_at_ms=int(self.clock() * 1000) + next(self._created),
        )
        token = access_token or "".join(
            secrets.choice(string.ascii_letters + string.digits) for _ in range(20)
        )
        self.devices[record.id] = _Device(record=record, token=token)
        return record

    async def get_device(self, device_id: uuid.UUID) -> DeviceRecord:
        self._enter("get_device")
        return self._device(device_id).record

    async def find_device(self, name: str) -> DeviceRecord | None:
        self._enter("find_device")
        return next((d.record for d in self.devices.values() if d.record.name == name), None)

    async def list_devices(
        self, *, page: int = 0, page_size: int = 100, owner_id: uuid.UUID | None = None
    ) -> Page[DeviceRecord]:
        self._enter("list_devices")
        records = sorted(
            (d.record for d in self.devices.values() if owner_id is None or d.record.owner_id == owner_id),
            key=lambda r: r.created_at_ms,
        )
        chunk = records[page * page_size : (page + 1) * page_size]
        return Page(items=tuple(chunk), total=len(records), has_next=(page + 1) * page_size < len(records))

    async def update_device(
        self, device_id: uuid.UUID, *, name: str | None = None, label: str | None = None
    ) -> DeviceRecord:
        self._enter("update_device")
        device = self._device(device_id)
        if name is not None and any(d.record.name == name and d is not device for d in self.devices.values()):
            raise ThingsBoardConflictError("Device with such name already exists!", status=400)
        device.record = replace(
            device.record,
            name=name if name is not None else device.record.name,
            label=label if label is not None else device.record.label,
        )
        return device.record

    async def delete_device(self, device_id: uuid.UUID) -> None:
        self._enter("delete_device")
        self.devices.pop(device_id, None)
        self.online.pop(device_id, None)

    async def assign_device(self, device_id: uuid.UUID, owner_id: uuid.UUID) -> DeviceRecord:
        self._enter("assign_device")
        device = self._device(device_id)
        if owner_id not in self.owners:
            raise ThingsBoardNotFoundError(f"Customer with id [{owner_id}] is not found", status=404)
        device.record = replace(device.record, owner_id=owner_id)
        return device.record

    async def unassign_device(self, device_id: uuid.UUID) -> DeviceRecord:
        self._enter("unassign_device")
        device = self._device(device_id)
        device.record = replace(device.record, owner_id=None)
        return device.record

    def _credentials(self, device: _Device) -> DeviceCredentials:
        return DeviceCredentials(
            device_id=device.record.id,
            access_token=device.token,
            mqtt_host=self.mqtt_host,
            mqtt_port=self.mqtt_port,
        )

    async def get_credentials(self, device_id: uuid.UUID) -> DeviceCredentials:
        self._enter("get_credentials")
        return self._credentials(self._device(device_id))

    async def rotate_credentials(
        self, device_id: uuid.UUID, access_token: str | None = None
    ) -> DeviceCredentials:
        self._enter("rotate_credentials")
        device = self._device(device_id)
        token = access_token or "".join(
            secrets.choice(string.ascii_letters + string.digits) for _ in range(20)
        )
        if any(d.token == token and d is not device for d in self.devices.values()):
            raise ThingsBoardConflictError(
                "Device credentials are already assigned to another device!", status=400
            )
        device.token = token
        return self._credentials(device)

    async def latest_readings(self, device_id: uuid.UUID, keys: Sequence[str]) -> dict[str, Reading | None]:
        self._enter("latest_readings")
        device = self._device(device_id)
        return {
            key: max(device.telemetry[key], key=lambda r: r.ts_ms) if device.telemetry.get(key) else None
            for key in keys
        }

    async def reading_history(self, device_id: uuid.UUID, query: HistoryQuery) -> dict[str, list[Reading]]:
        self._enter("reading_history")
        device = self._device(device_id)
        result: dict[str, list[Reading]] = {}
        for key in query.keys:
            samples = [r for r in device.telemetry.get(key, []) if query.start_ms <= r.ts_ms < query.end_ms]
            if not samples:
                continue
            if query.aggregation is not Aggregation.NONE and query.interval_ms > 0:
                samples = self._buckets(samples, query)
            samples.sort(key=lambda r: r.ts_ms, reverse=query.order is SortOrder.DESC)
            result[key] = samples[: query.limit]
        return result

    @staticmethod
    def _buckets(samples: list[Reading], query: HistoryQuery) -> list[Reading]:
        buckets: dict[int, list[Reading]] = defaultdict(list)
        for sample in samples:
            buckets[(sample.ts_ms - query.start_ms) // query.interval_ms].append(sample)
        return [
            Reading(
                # TB stamps each bucket at its midpoint.
                ts_ms=query.start_ms + index * query.interval_ms + query.interval_ms // 2,
                value=_aggregate(bucket, query.aggregation),
            )
            for index, bucket in buckets.items()
        ]

    async def telemetry_keys(self, device_id: uuid.UUID) -> list[str]:
        self._enter("telemetry_keys")
        return [key for key, samples in self._device(device_id).telemetry.items() if samples]

    async def connected_since(self, device_id: uuid.UUID) -> datetime | None:
        self._enter("connected_since")
        server = self._device(device_id).attributes[AttributeScope.SERVER]
        return connected_since_from_tb(server.get(LAST_CONNECT_TIME))

    async def pairing_proof(self, device_id: uuid.UUID) -> Value | None:
        self._enter("pairing_proof")
        return self._device(device_id).attributes[AttributeScope.REPORTED].get(PAIRING_PROOF)

    async def clear_pairing_proof(self, device_id: uuid.UUID) -> None:
        self._enter("clear_pairing_proof")
        self._device(device_id).attributes[AttributeScope.REPORTED].pop(PAIRING_PROOF, None)

    async def show_status(self, device_id: uuid.UUID, values: Mapping[str, Value]) -> None:
        self._enter("show_status")
        self._device(device_id).attributes[AttributeScope.SERVER].update(values)

    async def get_settings(self, device_id: uuid.UUID) -> dict[str, Value]:
        self._enter("get_settings")
        return dict(self._device(device_id).attributes[AttributeScope.SETTINGS])

    async def save_settings(self, device_id: uuid.UUID, values: Mapping[str, Value]) -> None:
        self._enter("save_settings")
        self._device(device_id).attributes[AttributeScope.SETTINGS].update(values)

    async def delete_settings(self, device_id: uuid.UUID, keys: Sequence[str]) -> None:
        self._enter("delete_settings")
        stored = self._device(device_id).attributes[AttributeScope.SETTINGS]
        for key in keys:
            stored.pop(key, None)

    async def get_attributes(
        self, device_id: uuid.UUID, scope: AttributeScope, keys: Sequence[str] | None = None
    ) -> dict[str, Value]:
        self._enter("get_attributes")
        values = self._device(device_id).attributes[scope]
        return {k: v for k, v in values.items() if keys is None or k in keys}

    async def save_attributes(
        self, device_id: uuid.UUID, scope: AttributeScope, values: Mapping[str, Value]
    ) -> None:
        self._enter("save_attributes")
        if scope is AttributeScope.REPORTED:
            raise ThingsBoardBadRequestError("reported attributes are written by the device only")
        self._device(device_id).attributes[scope].update(values)

    async def delete_attributes(
        self, device_id: uuid.UUID, scope: AttributeScope, keys: Sequence[str]
    ) -> None:
        self._enter("delete_attributes")
        stored = self._device(device_id).attributes[scope]
        for key in keys:
            stored.pop(key, None)

    async def call_device(
        self,
        device_id: uuid.UUID,
        method: str,
        params: Any = None,
        *,
        expect_reply: bool = True,
        timeout_s: float = 10.0,
    ) -> Any:
        self._enter("call_device")
        self._device(device_id)
        handler = self.online.get(device_id)
        if handler is None:
            raise ThingsBoardTimeoutError("device did not answer in time", status=504)
        reply = handler(method, params)
        return reply if expect_reply else None

    async def claim_device(
        self, account_id: uuid.UUID, device_name: str, secret_key: str = ""
    ) -> DeviceRecord:
        self._enter("claim_device")
        owner = next((o for o in self.owners.values() if o.account_id == account_id), None)
        device = next((d for d in self.devices.values() if d.record.name == device_name), None)
        if owner is None or device is None:
            raise ThingsBoardNotFoundError("Requested item wasn't found!", status=404)
        if device.record.owner_id is not None:
            raise ThingsBoardConflictError("device is already claimed", status=400)
        if device.claim_secret is None or device.claim_secret != secret_key:
            device.claim_secret = None
            raise ThingsBoardClaimRejectedError("claim rejected", status=400)
        device.claim_secret = None
        device.record = replace(device.record, owner_id=owner.owner_id)
        return device.record

    async def release_device(self, device_name: str) -> None:
        self._enter("release_device")
        device = next((d for d in self.devices.values() if d.record.name == device_name), None)
        if device is None:
            raise ThingsBoardNotFoundError("Requested item wasn't found!", status=404)
        device.record = replace(device.record, owner_id=None)

    async def ensure_provisioning_profile(self, name: str, *, key: str, secret: str) -> None:
        self._enter("ensure_provisioning_profile")
        if any(k == key and n != name for n, (k, _) in self.provisioning_profiles.items()):
            raise ThingsBoardBadRequestError("Device profile with such provision device key already exists!")
        self.provisioning_profiles[name] = (key, secret)

    async def save_readings(
        self, device_id: uuid.UUID, values: Mapping[str, Value], *, ts_ms: int | None = None
    ) -> None:
        self._enter("save_readings")
        self._device(device_id)
        if not values:
            raise ThingsBoardBadRequestError("No time series data found in request body!")
        for key, value in values.items():
            self.record_reading(device_id, key, value, ts_ms)

    def open_stream(self, listener: StreamListener) -> FakeStream:
        stream = FakeStream(self, listener)
        self.streams.append(stream)
        return stream


if TYPE_CHECKING:
    # runtime_checkable only compares method names; this makes mypy hold the fake to the port's signatures.
    def _conforms(implementation: FakeThingsBoard) -> ThingsBoardPort:
        return implementation


__all__ = ["FakeStream", "FakeThingsBoard"]
