import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from petit.lib.schema import CamelModel


class ProvisionDeviceRequest(CamelModel):
    mac_address: str = Field(min_length=12, max_length=17, description="`A4:B7:2C:CD:FF:33`, dashes or none")
    provision_device_key: str = Field(min_length=1, max_length=128)
    provision_device_secret: str = Field(min_length=1, max_length=128)
    device_secret: str | None = Field(
        default=None,
        max_length=128,
        description="The secret this device received when it last provisioned; required to provision again "
        "unless the owner has allowed a re-provision.",
    )


class ProvisionedCredentials(CamelModel):
    device_name: str = Field(description="The normalized MAC: the device's name on the platform")
    access_token: str = Field(description="MQTT username for the device platform")
    device_secret: str = Field(description="Keep it: proves this device when it provisions again")
    mqtt_host: str
    mqtt_port: int
    reprovisioned: bool


class ReprovisionApproval(CamelModel):
    device_id: uuid.UUID
    mac_address: str
    allowed_until: datetime


class DebugProvisioningRequest(BaseModel):
    """Seed 001's body, names and all."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    mac_address: str = Field(alias="mac-address", min_length=12, max_length=17)


class DebugProvisioningResponse(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    access_token: str = Field(alias="access-token")
