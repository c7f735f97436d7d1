import uuid
from datetime import datetime

from pydantic import Field

from petit.lib.schema import CamelModel


class StreamDeviceRead(CamelModel):
    device_id: uuid.UUID
    stream_id: uuid.UUID = Field(description="The id to subscribe to this device with on the WebSocket")


class StreamTokenRead(CamelModel):
    token: str = Field(description="Bearer for the WebSocket's auth command; it reads only your own devices")
    ws_url: str = Field(description="WebSocket endpoint to subscribe to telemetry and settings on")
    expires_at: datetime = Field(description="After this, ask for a new token; open sessions may continue")
    devices: list[StreamDeviceRead] = Field(description="Your devices and the ids to subscribe to them by")
    shared_devices: list[uuid.UUID] = Field(
        default_factory=list,
        description="Devices shared with you. ThingsBoard CE gives a device to one customer only, "
        "so this token cannot read them: stream them through petit's own stream "
        "(`/ws` or `GET /devices/stream`), which follows shares as they change",
    )
