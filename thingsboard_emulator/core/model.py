"""Entities and their ThingsBoard JSON shapes."""

from __future__ import annotations

import secrets
import string
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

NULL_UUID = "13814000-1dd2-11b2-8080-808080808080"

Authority = Literal["SYS_ADMIN", "TENANT_ADMIN", "CUSTOMER_USER"]
ProvisionType = Literal[
    "DISABLED", "ALLOW_CREATE_NEW_DEVICES", "CHECK_PRE_PROVISIONED_DEVICES", "X509_CERTIFICATE_CHAIN"
]

_ALNUM = string.ascii_lowercase + string.digits


def now_ms() -> int:
    return int(time.time() * 1000)


def new_id() -> str:
    return str(uuid.uuid4())


def random_token(length: int = 20) -> str:
    """TB's generated access tokens and names: lower-case alphanumerics."""
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


def ref(entity_type: str, entity_id: str) -> dict[str, str]:
    return {"entityType": entity_type, "id": entity_id}


@dataclass(slots=True)
class Tenant:
    id: str
    title: str
    created_time: int = field(default_factory=now_ms)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": ref("TENANT", self.id),
            "createdTime": self.created_time,
            "title": self.title,
            "name": self.title,
            "region": "Global",
            "tenantProfileId": None,
            "country": None,
            "state": None,
            "city": None,
            "address": None,
            "address2": None,
            "zip": None,
            "phone": None,
            "email": None,
            "additionalInfo": None,
            "version": 1,
        }


@dataclass(slots=True)
class Customer:
    id: str
    tenant_id: str
    title: str
    created_time: int = field(default_factory=now_ms)
    version: int = 1
    details: dict[str, Any] = field(default_factory=dict)  # country, city, email, additionalInfo, ...

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": ref("CUSTOMER", self.id),
            "createdTime": self.created_time,
            "tenantId": ref("TENANT", self.tenant_id),
            "title": self.title,
            "name": self.title,
        }
        for key in (
            "country",
            "state",
            "city",
            "address",
            "address2",
            "zip",
            "phone",
            "email",
            "additionalInfo",
        ):
            body[key] = self.details.get(key)
        body["externalId"] = None
        body["version"] = self.version
        return body


@dataclass(slots=True)
class User:
    id: str
    tenant_id: str
    customer_id: str
    email: str
    authority: Authority
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    additional_info: Any = None
    created_time: int = field(default_factory=now_ms)
    version: int = 1
    password_hash: str | None = None
    enabled: bool = False
    activate_token: str | None = None
    activate_token_exp_ms: int = 0
    # Tokens issued (iat, seconds) before this are outdated: credentials disabled or password changed.
    tokens_valid_after_s: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": ref("USER", self.id),
            "createdTime": self.created_time,
            "tenantId": ref("TENANT", self.tenant_id),
            "customerId": ref("CUSTOMER", self.customer_id),
            "email": self.email,
            "name": self.email,
            "authority": self.authority,
            "firstName": self.first_name,
            "lastName": self.last_name,
            "phone": self.phone,
            "additionalInfo": self.additional_info if self.additional_info is not None else {},
            "version": self.version,
        }


@dataclass(slots=True)
class DeviceProfile:
    id: str
    tenant_id: str
    name: str
    description: str | None = None
    is_default: bool = False
    provision_type: ProvisionType = "DISABLED"
    provision_key: str | None = None
    provision_secret: str | None = None
    created_time: int = field(default_factory=now_ms)
    version: int = 1
    profile_data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = {
            "configuration": {"type": "DEFAULT"},
            "transportConfiguration": {"type": "DEFAULT"},
            "alarms": None,
            **self.profile_data,
        }
        data["provisionConfiguration"] = {
            "type": self.provision_type,
            "provisionDeviceSecret": self.provision_secret,
        }
        return {
            "id": ref("DEVICE_PROFILE", self.id),
            "createdTime": self.created_time,
            "tenantId": ref("TENANT", self.tenant_id),
            "name": self.name,
            "description": self.description,
            "image": None,
            "default": self.is_default,
            "type": "DEFAULT",
            "transportType": "DEFAULT",
            "provisionType": self.provision_type,
            "defaultRuleChainId": None,
            "defaultDashboardId": None,
            "defaultQueueName": None,
            "provisionDeviceKey": self.provision_key,
            "firmwareId": None,
            "softwareId": None,
            "defaultEdgeRuleChainId": None,
            "profileData": data,
            "externalId": None,
            "version": self.version,
        }

    def info_json(self) -> dict[str, Any]:
        return {
            "id": ref("DEVICE_PROFILE", self.id),
            "tenantId": ref("TENANT", self.tenant_id),
            "name": self.name,
            "image": None,
            "defaultDashboardId": None,
            "type": "DEFAULT",
            "transportType": "DEFAULT",
        }


@dataclass(slots=True)
class Device:
    id: str
    tenant_id: str
    name: str
    type: str
    profile_id: str
    customer_id: str = NULL_UUID
    label: str | None = None
    additional_info: Any = None
    created_time: int = field(default_factory=now_ms)
    version: int = 1

    def to_json(self) -> dict[str, Any]:
        return {
            "id": ref("DEVICE", self.id),
            "createdTime": self.created_time,
            "tenantId": ref("TENANT", self.tenant_id),
            "customerId": ref("CUSTOMER", self.customer_id),
            "name": self.name,
            "type": self.type,
            "label": self.label,
            "deviceProfileId": ref("DEVICE_PROFILE", self.profile_id),
            "deviceData": {
                "configuration": {"type": "DEFAULT"},
                "transportConfiguration": {"type": "DEFAULT"},
            },
            "firmwareId": None,
            "softwareId": None,
            "externalId": None,
            "version": self.version,
            "additionalInfo": self.additional_info,
        }


@dataclass(slots=True)
class Credentials:
    id: str
    device_id: str
    credentials_id: str
    credentials_type: str = "ACCESS_TOKEN"
    credentials_value: str | None = None
    created_time: int = field(default_factory=now_ms)
    version: int = 1

    def to_json(self) -> dict[str, Any]:
        return {
            "id": {"id": self.id},
            "createdTime": self.created_time,
            "deviceId": ref("DEVICE", self.device_id),
            "credentialsType": self.credentials_type,
            "credentialsId": self.credentials_id,
            "credentialsValue": self.credentials_value,
            "version": self.version,
        }
