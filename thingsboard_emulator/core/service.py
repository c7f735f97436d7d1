"""The core: entities, credentials, users, telemetry, activity, claiming and provisioning state.

Everything lives in memory on the emulator's loop; ``data_file`` adds write-behind SQLite persistence.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from thingsboard_emulator.contracts import AttributeScope, JsonValue, Principal

if TYPE_CHECKING:
    from thingsboard_emulator.contracts import DeviceApi, TelemetryReader
from thingsboard_emulator.core.api_keys import ApiKeys
from thingsboard_emulator.core.auth import JwtService, check_password, hash_password
from thingsboard_emulator.core.errors import (
    TbError,
    bad_request,
    entity_not_found,
    forbidden,
    unauthorized,
)
from thingsboard_emulator.core.model import (
    NULL_UUID,
    Credentials,
    Customer,
    Device,
    DeviceProfile,
    ProvisionType,
    Tenant,
    User,
    new_id,
    now_ms,
    random_token,
)
from thingsboard_emulator.core.persistence import SqlitePersistence
from thingsboard_emulator.core.persistent_rpc import PersistentRpcs
from thingsboard_emulator.core.rpc import RpcEngine
from thingsboard_emulator.core.telemetry import Events, TelemetryStore
from thingsboard_emulator.versions import DEFAULT_VERSION, behaviour

log = logging.getLogger(__name__)

SYSADMIN_EMAIL = "sysadmin@thingsboard.org"
TENANT_ADMIN_EMAIL = "tenant@thingsboard.org"
ACTIVATION_TTL_MS = 24 * 3600 * 1000


@dataclass(slots=True)
class CoreConfig:
    data_file: str | None = None
    inactivity_timeout_s: float = 600
    rpc_default_timeout_ms: int = 10000
    claim_duration_ms: int = 86400000
    max_payload_bytes: int = 65536
    jwt_expiration_s: int = 9000
    refresh_expiration_s: int = 604800
    allow_claiming_by_default: bool = True
    client_rpc_timeout_ms: int = 60000
    user_token_access_enabled: bool = True
    # In-memory history per (entity, key); the oldest points go first. 0 keeps everything.
    max_points_per_key: int = 200_000
    # The ThingsBoard CE release to behave like (``versions.VERSIONS``).
    version: str = DEFAULT_VERSION


@dataclass(slots=True)
class ActivityState:
    active: bool = False
    last_activity_ms: int = 0


_KINDS: dict[str, type[Any]] = {
    "tenant": Tenant,
    "customer": Customer,
    "user": User,
    "profile": DeviceProfile,
    "device": Device,
    "credentials": Credentials,
}


class Core:
    def __init__(self, config: CoreConfig) -> None:
        from thingsboard_emulator.core.device_api import DeviceGateway  # noqa: PLC0415 - mutual reference

        self.config = config
        self.behaviour = behaviour(config.version)
        self.events = Events()
        self.telemetry = TelemetryStore(self.events, config.max_points_per_key)
        self.tenants: dict[str, Tenant] = {}
        self.customers: dict[str, Customer] = {}
        self.users: dict[str, User] = {}
        self.profiles: dict[str, DeviceProfile] = {}
        self.devices: dict[str, Device] = {}
        self.credentials: dict[str, Credentials] = {}  # by device id
        self.by_token: dict[str, str] = {}  # ACCESS_TOKEN credentialsId -> device id
        self.activity: dict[str, ActivityState] = {}
        self.jwt = JwtService(secrets.token_bytes(64), config.jwt_expiration_s, config.refresh_expiration_s)
        # The gateway is created just below; resolve it lazily.
        self.rpc = RpcEngine(lambda device_id: self.device_api.rpc_sessions(device_id))  # noqa: PLW0108
        self.device_api = DeviceGateway(self)
        self.persistent_rpc = PersistentRpcs(self.rpc)
        self.api_keys = ApiKeys(self)
        self._store: SqlitePersistence | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.sysadmin_id = ""
        self.tenant_id = ""

    # --- lifecycle ------------------------------------------------------------------------------------------

    async def start(self) -> None:
        if self.config.data_file:
            self._store = await asyncio.to_thread(SqlitePersistence, self.config.data_file)
            await asyncio.to_thread(self._load)
            self.telemetry.persist = self._store.record
            self._store.start()
        if not self.users:
            self._create_demo_data()
        self._tasks.append(asyncio.get_running_loop().create_task(self._inactivity_loop()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.persistent_rpc.close()
        self.device_api.close_all("emulator stopping")
        if self._store is not None:
            await self._store.close()
            self._store = None

    def _load(self) -> None:
        store = self._store
        assert store is not None
        key = store.meta("jwt_key")
        if key is None:
            store.set_meta("jwt_key", self.jwt.key.hex())
        else:
            self.jwt.key = bytes.fromhex(key)
        targets: dict[str, dict[str, Any]] = {
            "tenant": self.tenants,
            "customer": self.customers,
            "user": self.users,
            "profile": self.profiles,
            "device": self.devices,
            "credentials": self.credentials,
        }
        for kind, cls in _KINDS.items():
            for body in store.entities(kind):
                entity = cls(**body)
                key_id = entity.device_id if kind == "credentials" else entity.id
                targets[kind][key_id] = entity
        for cred in self.credentials.values():
            if cred.credentials_type == "ACCESS_TOKEN":
                self.by_token[cred.credentials_id] = cred.device_id
        for entity_id, scope, key_name, ts, value in store.attributes():
            self.telemetry.load_attribute(entity_id, scope, key_name, ts, value)  # type: ignore[arg-type]
        for entity_id, key_name, ts, value in store.timeseries():
            self.telemetry.load_point(entity_id, key_name, ts, value)
        for user in self.users.values():
            if user.authority == "SYS_ADMIN":
                self.sysadmin_id = user.id
            elif user.authority == "TENANT_ADMIN" and not self.tenant_id:
                self.tenant_id = user.tenant_id
        for device_id in self.devices:
            active = self.telemetry.attribute(device_id, "SERVER_SCOPE", "active")
            last = self.telemetry.attribute(device_id, "SERVER_SCOPE", "lastActivityTime")
            self.activity[device_id] = ActivityState(bool(active), int(last or 0))

    def _create_demo_data(self) -> None:
        tenant = Tenant(new_id(), "Tenant")
        self.tenants[tenant.id] = tenant
        self._persist("tenant", tenant)
        self.tenant_id = tenant.id
        sysadmin = User(new_id(), NULL_UUID, NULL_UUID, SYSADMIN_EMAIL, "SYS_ADMIN", enabled=True)
        sysadmin.password_hash = hash_password("sysadmin")
        admin = User(new_id(), tenant.id, NULL_UUID, TENANT_ADMIN_EMAIL, "TENANT_ADMIN", enabled=True)
        admin.password_hash = hash_password("tenant")
        for user in (sysadmin, admin):
            self.users[user.id] = user
            self._persist("user", user)
        self.sysadmin_id = sysadmin.id
        self.create_default_profile(tenant.id)

    def create_default_profile(self, tenant_id: str) -> DeviceProfile:
        profile = DeviceProfile(new_id(), tenant_id, "default", "Default device profile", is_default=True)
        self.profiles[profile.id] = profile
        self._persist("profile", profile)
        return profile

    def _persist(self, kind: str, entity: Any) -> None:
        if self._store is not None:
            key_id = entity.device_id if kind == "credentials" else entity.id
            self._store.put_entity(kind, key_id, dataclasses.asdict(entity))

    def _unpersist(self, kind: str, entity_id: str) -> None:
        if self._store is not None:
            self._store.delete_entity(kind, entity_id)

    # --- authentication -------------------------------------------------------------------------------------

    def user_by_email(self, email: str) -> User | None:
        lowered = email.lower()
        for user in self.users.values():
            if user.email.lower() == lowered:
                return user
        return None

    def login(self, username: Any, password: Any) -> dict[str, str]:
        if not isinstance(username, str) or not isinstance(password, str) or not username or not password:
            raise unauthorized("Authentication failed")
        user = self.user_by_email(username)
        if user is None:
            raise unauthorized("Invalid username or password")
        if not user.enabled or user.password_hash is None:
            raise unauthorized("User account is not active")
        if not check_password(password, user.password_hash):
            raise unauthorized("Invalid username or password")
        return self.jwt.pair(user)

    def refresh(self, refresh_token: Any) -> dict[str, str]:
        if not isinstance(refresh_token, str) or not refresh_token.strip():
            raise unauthorized("Authentication failed")
        claims = self.jwt.decode(refresh_token)
        if claims.get("scopes") != ["REFRESH_TOKEN"]:
            raise unauthorized("Invalid JWT token")
        user = self.users.get(str(claims.get("userId")))
        if user is None:
            raise unauthorized("User not found")
        _check_not_outdated(claims, user)
        if not user.enabled:
            raise unauthorized("User account is not active")
        return self.jwt.pair(user)

    def principal_from_token(self, token: str) -> Principal:
        claims = self.jwt.decode(token)
        scopes = claims.get("scopes") or []
        if not scopes or scopes[0] not in ("SYS_ADMIN", "TENANT_ADMIN", "CUSTOMER_USER"):
            raise unauthorized("Invalid username or password")
        user = self.users.get(str(claims.get("userId")))
        if user is None:
            raise unauthorized("Invalid username or password")
        _check_not_outdated(claims, user)
        return Principal(
            user.id,
            user.tenant_id,
            user.customer_id if user.authority == "CUSTOMER_USER" else None,
            user.authority,
        )

    def principal_for_user(self, user_id: str) -> Principal:
        """TB's ``authenticateByUserId`` (API keys): the user must exist and be active."""
        user = self.users.get(user_id)
        if user is None:
            raise unauthorized("User not found")
        if not user.enabled:
            raise unauthorized("User is not active")
        return Principal(
            user.id,
            user.tenant_id,
            user.customer_id if user.authority == "CUSTOMER_USER" else None,
            user.authority,
        )

    # --- TelemetryReader ------------------------------------------------------------------------------------

    def authenticate_jwt(self, token: str) -> Principal | None:
        try:
            return self.principal_from_token(token)
        except TbError:
            return None

    def authenticate_api_key(self, value: str) -> Principal | str:
        try:
            return self.api_keys.authenticate(value)
        except TbError as exc:
            return exc.message

    def can_read(self, principal: Principal, entity_type: str, entity_id: str) -> bool:
        try:
            self.check_entity(principal, entity_type, entity_id)
        except TbError:
            return False
        return True

    def latest_timeseries(self, entity_id: str, keys: list[str] | None) -> dict[str, tuple[int, JsonValue]]:
        return self.telemetry.latest(entity_id, keys)

    def timeseries_history(
        self,
        entity_id: str,
        keys: list[str],
        start_ts: int,
        end_ts: int,
        *,
        limit: int,
        agg: str,
        interval: int | None,
    ) -> dict[str, list[tuple[int, JsonValue]]]:
        return self.telemetry.history(
            entity_id, keys, start_ts, end_ts, limit=limit, agg=agg, interval=interval
        )

    def attributes(
        self, entity_id: str, scope: AttributeScope | None, keys: list[str] | None
    ) -> dict[str, tuple[int, JsonValue]]:
        return self.telemetry.attributes(entity_id, scope, keys)

    # --- access control -------------------------------------------------------------------------------------

    def check_entity(  # noqa: C901, PLR0912 - one branch per entity type
        self, principal: Principal, entity_type: str, entity_id: str
    ) -> Any:
        """The entity if ``principal`` may read it: 404 when unknown, 403 across tenants or customers."""
        if entity_type == "DEVICE":
            device = self.devices.get(entity_id)
            if device is None:
                raise entity_not_found("Device", entity_id)
            self._check_owned(principal, device.tenant_id, device.customer_id)
            return device
        if entity_type == "CUSTOMER":
            customer = self.customers.get(entity_id)
            if customer is None:
                raise entity_not_found("Customer", entity_id)
            self._check_owned(principal, customer.tenant_id, customer.id)
            return customer
        if entity_type == "USER":
            user = self.users.get(entity_id)
            if user is None:
                raise entity_not_found("User", entity_id)
            if principal.authority == "SYS_ADMIN":
                return user
            self._check_owned(principal, user.tenant_id, user.customer_id)
            return user
        if entity_type == "TENANT":
            tenant = self.tenants.get(entity_id)
            if tenant is None:
                raise entity_not_found("Tenant", entity_id)
            if principal.authority != "SYS_ADMIN" and principal.tenant_id != entity_id:
                raise forbidden()
            return tenant
        if entity_type == "DEVICE_PROFILE":
            profile = self.profiles.get(entity_id)
            if profile is None:
                raise entity_not_found("Device profile", entity_id)
            if principal.tenant_id != profile.tenant_id:
                raise forbidden()
            return profile
        raise bad_request(f"Unsupported entity type: {entity_type}")

    @staticmethod
    def _check_owned(principal: Principal, tenant_id: str, customer_id: str) -> None:
        if principal.authority == "SYS_ADMIN":
            raise forbidden()
        if principal.tenant_id != tenant_id:
            raise forbidden()
        if principal.authority == "CUSTOMER_USER" and principal.customer_id != customer_id:
            raise forbidden()

    # --- tenants --------------------------------------------------------------------------------------------

    def save_tenant(self, principal: Principal, body: dict[str, Any]) -> Tenant:
        if principal.authority != "SYS_ADMIN":
            raise forbidden()
        title = body.get("title")
        if not isinstance(title, str) or not title.strip():
            raise bad_request("Tenant title should be specified!")
        existing_id = _id_of(body.get("id"))
        if existing_id:
            tenant = self.tenants.get(existing_id)
            if tenant is None:
                raise entity_not_found("Tenant", existing_id)
            tenant.title = title
        else:
            tenant = Tenant(new_id(), title)
            self.tenants[tenant.id] = tenant
            self.create_default_profile(tenant.id)
        self._persist("tenant", tenant)
        return tenant

    # --- customers ------------------------------------------------------------------------------------------

    def save_customer(self, principal: Principal, body: dict[str, Any]) -> Customer:
        title = body.get("title")
        if not isinstance(title, str) or not title.strip():
            raise bad_request("Customer title should be specified!")
        existing_id = _id_of(body.get("id"))
        for other in self.customers.values():
            if other.tenant_id == principal.tenant_id and other.title == title and other.id != existing_id:
                raise bad_request("Customer with such title already exists!")
        details: dict[str, Any] = {
            k: body.get(k)
            for k in (
                "country",
                "state",
                "city",
                "address",
                "address2",
                "zip",
                "phone",
                "email",
                "additionalInfo",
            )
            if k in body
        }
        if existing_id:
            customer: Customer = self.check_entity(principal, "CUSTOMER", existing_id)
            customer.title = title
            customer.details.update(details)
            customer.version += 1
        else:
            customer = Customer(new_id(), principal.tenant_id, title, details=details)
            self.customers[customer.id] = customer
        self._persist("customer", customer)
        return customer

    def customer_by_title(self, tenant_id: str, title: str) -> Customer | None:
        for customer in self.customers.values():
            if customer.tenant_id == tenant_id and customer.title == title:
                return customer
        return None

    def delete_customer(self, principal: Principal, customer_id: str) -> None:
        customer = self.check_entity(principal, "CUSTOMER", customer_id)
        for user in [u for u in self.users.values() if u.customer_id == customer.id]:
            self._drop_user(user)
        for device in self.devices.values():
            if device.customer_id == customer.id:
                device.customer_id = NULL_UUID
                device.version += 1
                self._persist("device", device)
        del self.customers[customer.id]
        self.telemetry.forget(customer.id)
        self._unpersist("customer", customer.id)

    # --- users ----------------------------------------------------------------------------------------------

    def save_user(  # noqa: C901, PLR0912 - TB's validation rules, one by one
        self, principal: Principal, body: dict[str, Any]
    ) -> User:
        email = body.get("email")
        authority = body.get("authority")
        if not isinstance(email, str) or not email.strip():
            raise bad_request("User email should be specified!")
        if authority not in ("SYS_ADMIN", "TENANT_ADMIN", "CUSTOMER_USER"):
            raise bad_request("User authority isn't defined!")
        existing_id = _id_of(body.get("id"))
        duplicate = self.user_by_email(email)
        if duplicate is not None and duplicate.id != existing_id:
            raise bad_request(f"User with email '{email}' already present in database!")
        customer_id = _id_of(body.get("customerId")) or NULL_UUID
        tenant_id = _id_of(body.get("tenantId")) or NULL_UUID
        if principal.authority != "SYS_ADMIN":
            tenant_id = principal.tenant_id
        if principal.authority == "CUSTOMER_USER" and (
            authority != "CUSTOMER_USER" or customer_id != principal.customer_id
        ):
            raise forbidden()
        if authority == "CUSTOMER_USER":
            if customer_id == NULL_UUID:
                raise bad_request("Customer user should be assigned to customer!")
            customer = self.customers.get(customer_id)
            if customer is None or customer.tenant_id != tenant_id:
                raise bad_request("User is referencing to non-existent customer!")
        elif authority == "TENANT_ADMIN":
            if principal.authority == "TENANT_ADMIN" and tenant_id != principal.tenant_id:
                raise forbidden()
            if tenant_id not in self.tenants:
                raise bad_request("User is referencing to non-existent tenant!")
            customer_id = NULL_UUID
        elif principal.authority != "SYS_ADMIN":
            raise forbidden()
        fields: dict[str, Any] = {
            "first_name": body.get("firstName"),
            "last_name": body.get("lastName"),
            "phone": body.get("phone"),
            "additional_info": body.get("additionalInfo"),
        }
        if existing_id:
            user: User = self.check_entity(principal, "USER", existing_id)
            user.email = email
            for name, value in fields.items():
                setattr(user, name, value)
            user.version += 1
        else:
            user = User(
                new_id(),
                tenant_id,
                customer_id,
                email,
                authority,
                first_name=fields["first_name"],
                last_name=fields["last_name"],
                phone=fields["phone"],
                additional_info=fields["additional_info"],
            )
            self._new_activation_token(user)
            self.users[user.id] = user
        self._persist("user", user)
        return user

    def _new_activation_token(self, user: User) -> None:
        user.activate_token = random_token(30)
        user.activate_token_exp_ms = now_ms() + ACTIVATION_TTL_MS

    def activation_token(self, principal: Principal, user_id: str) -> str:
        user: User = self.check_entity(principal, "USER", user_id)
        if user.enabled and user.password_hash is not None:
            raise bad_request("User is already activated!")
        if user.activate_token is None or user.activate_token_exp_ms - now_ms() < 15 * 60 * 1000:
            self._new_activation_token(user)
            self._persist("user", user)
        assert user.activate_token is not None
        return user.activate_token

    def activate(self, token: Any, password: Any) -> dict[str, str]:
        user = next((u for u in self.users.values() if token and u.activate_token == token), None)
        if user is None:
            raise bad_request(f"Unable to find user credentials by activateToken [{token}]")
        if user.enabled and user.password_hash is not None:
            raise bad_request("User credentials already activated")
        if user.activate_token_exp_ms < now_ms():
            raise bad_request("Activation token expired")
        if not isinstance(password, str) or len(password) < 6:
            raise bad_request("Password must be at least 6 characters long!")
        if len(password) > 72:
            raise bad_request("Password must be no more than 72 characters in length!")
        user.password_hash = hash_password(password)
        user.enabled = True
        user.activate_token = None
        self._persist("user", user)
        return self.jwt.pair(user)

    def set_user_enabled(self, principal: Principal, user_id: str, *, enabled: bool) -> None:
        user: User = self.check_entity(principal, "USER", user_id)
        user.enabled = enabled
        if not enabled:
            self.outdate_tokens(user)
        self._persist("user", user)

    def outdate_tokens(self, user: User) -> None:
        """TB's TokenOutdatingService: disabling credentials or changing the password voids earlier tokens."""
        user.tokens_valid_after_s = int(time.time())

    def user_token(self, principal: Principal, user_id: str) -> dict[str, str]:
        if not self.config.user_token_access_enabled:
            raise forbidden()
        if principal.authority == "CUSTOMER_USER":
            raise forbidden()
        user: User = self.check_entity(principal, "USER", user_id)
        if principal.authority == "SYS_ADMIN" and user.authority != "TENANT_ADMIN":
            raise forbidden()
        return self.jwt.pair(user)

    def delete_user(self, principal: Principal, user_id: str) -> None:
        user: User = self.check_entity(principal, "USER", user_id)
        if user.authority == "TENANT_ADMIN":
            admins = [
                u
                for u in self.users.values()
                if u.tenant_id == user.tenant_id and u.authority == "TENANT_ADMIN"
            ]
            if len(admins) <= 1:
                raise bad_request("At least one tenant administrator must remain!")
        self._drop_user(user)

    def delete_user_unchecked(self, user: User) -> None:
        self._drop_user(user)

    def _drop_user(self, user: User) -> None:
        self.users.pop(user.id, None)
        self._unpersist("user", user.id)

    # --- device profiles ------------------------------------------------------------------------------------

    def default_profile(self, tenant_id: str) -> DeviceProfile:
        for profile in self.profiles.values():
            if profile.tenant_id == tenant_id and profile.is_default:
                return profile
        return self.create_default_profile(tenant_id)

    def save_profile(self, principal: Principal, body: dict[str, Any]) -> DeviceProfile:
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise bad_request("Device profile name should be specified!")
        existing_id = _id_of(body.get("id"))
        data = body.get("profileData") if isinstance(body.get("profileData"), dict) else {}
        assert isinstance(data, dict)
        provision = (
            data.get("provisionConfiguration") if isinstance(data.get("provisionConfiguration"), dict) else {}
        )
        assert isinstance(provision, dict)
        provision_type = provision.get("type") or body.get("provisionType") or "DISABLED"
        if provision_type not in (
            "DISABLED",
            "ALLOW_CREATE_NEW_DEVICES",
            "CHECK_PRE_PROVISIONED_DEVICES",
            "X509_CERTIFICATE_CHAIN",
        ):
            raise bad_request(f"Unsupported provision type: {provision_type}")
        key = body.get("provisionDeviceKey")
        secret = provision.get("provisionDeviceSecret")
        for other in self.profiles.values():
            if other.id == existing_id:
                continue
            if other.tenant_id == principal.tenant_id and other.name == name:
                raise bad_request("Device profile with such name already exists!")
            if key and other.provision_key == key:
                raise bad_request("Device profile with such provision device key already exists!")
        if provision_type != "DISABLED" and (not key or not secret):
            raise bad_request("Provision device key and secret should be specified!")
        extra = {k: v for k, v in data.items() if k != "provisionConfiguration"}
        if existing_id:
            profile: DeviceProfile = self.check_entity(principal, "DEVICE_PROFILE", existing_id)
            profile.name = name
            profile.version += 1
        else:
            profile = DeviceProfile(new_id(), principal.tenant_id, name)
            self.profiles[profile.id] = profile
        profile.description = body.get("description")
        profile.provision_type = cast("ProvisionType", provision_type)
        profile.provision_key = key or None
        profile.provision_secret = secret or None
        profile.profile_data = extra
        if body.get("default"):
            self._make_default(profile)
        self._persist("profile", profile)
        return profile

    def _make_default(self, profile: DeviceProfile) -> None:
        for other in self.profiles.values():
            if other.tenant_id == profile.tenant_id and other.is_default and other.id != profile.id:
                other.is_default = False
                self._persist("profile", other)
        profile.is_default = True
        self._persist("profile", profile)

    def set_default_profile(self, principal: Principal, profile_id: str) -> DeviceProfile:
        profile: DeviceProfile = self.check_entity(principal, "DEVICE_PROFILE", profile_id)
        self._make_default(profile)
        return profile

    def delete_profile(self, principal: Principal, profile_id: str) -> None:
        profile: DeviceProfile = self.check_entity(principal, "DEVICE_PROFILE", profile_id)
        if profile.is_default:
            raise bad_request("Deletion of Default Device Profile is prohibited!")
        if any(d.profile_id == profile.id for d in self.devices.values()):
            raise bad_request("The device profile referenced by the devices cannot be deleted!")
        del self.profiles[profile.id]
        self._unpersist("profile", profile.id)

    def profile_by_name(self, tenant_id: str, name: str) -> DeviceProfile | None:
        for profile in self.profiles.values():
            if profile.tenant_id == tenant_id and profile.name == name:
                return profile
        return None

    # --- devices --------------------------------------------------------------------------------------------

    def device_by_name(self, tenant_id: str, name: str) -> Device | None:
        for device in self.devices.values():
            if device.tenant_id == tenant_id and device.name == name:
                return device
        return None

    def save_device(
        self,
        principal: Principal,
        body: dict[str, Any],
        access_token: str | None = None,
        credentials: dict[str, Any] | None = None,
    ) -> Device:
        if principal.authority == "SYS_ADMIN":
            raise forbidden()
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise bad_request("Device name should be specified!")
        existing_id = _id_of(body.get("id"))
        duplicate = self.device_by_name(principal.tenant_id, name)
        if duplicate is not None and duplicate.id != existing_id:
            raise bad_request("Device with such name already exists!")
        owner = None if access_token is None else self.by_token.get(access_token)
        if owner is not None and owner != existing_id:
            raise bad_request("Device credentials are already assigned to another device!")
        profile = self._resolve_profile(principal.tenant_id, body)
        if existing_id:
            device: Device = self.check_entity(principal, "DEVICE", existing_id)
            device.name = name
            device.label = body.get("label")
            device.type = profile.name
            device.profile_id = profile.id
            if "additionalInfo" in body:
                device.additional_info = body.get("additionalInfo")
            device.version += 1
            self._persist("device", device)
            return device
        customer_id = NULL_UUID
        if principal.authority == "CUSTOMER_USER":
            customer_id = principal.customer_id or NULL_UUID
        device = self.create_device(
            principal.tenant_id,
            name,
            profile,
            label=body.get("label"),
            customer_id=customer_id,
            additional_info=body.get("additionalInfo"),
        )
        if credentials is not None:
            try:
                self.update_credentials(
                    principal, {**credentials, "deviceId": {"id": device.id}}, allow_new=True
                )
            except TbError:
                self._remove_device(device)
                raise
        else:
            self.set_token(device.id, access_token or random_token(20))
        return device

    def _resolve_profile(self, tenant_id: str, body: dict[str, Any]) -> DeviceProfile:
        profile_id = _id_of(body.get("deviceProfileId"))
        if profile_id:
            profile = self.profiles.get(profile_id)
            if profile is None or profile.tenant_id != tenant_id:
                raise bad_request("Can't assign non-existent device profile!")
            return profile
        type_name = body.get("type")
        if isinstance(type_name, str) and type_name:
            profile = self.profile_by_name(tenant_id, type_name)
            if profile is None:
                profile = DeviceProfile(new_id(), tenant_id, type_name)
                self.profiles[profile.id] = profile
                self._persist("profile", profile)
            return profile
        return self.default_profile(tenant_id)

    def create_device(
        self,
        tenant_id: str,
        name: str,
        profile: DeviceProfile,
        *,
        label: str | None = None,
        customer_id: str = NULL_UUID,
        additional_info: Any = None,
    ) -> Device:
        device = Device(
            new_id(), tenant_id, name, profile.name, profile.id, customer_id, label, additional_info
        )
        self.devices[device.id] = device
        self.activity[device.id] = ActivityState()
        self._persist("device", device)
        return device

    def set_token(self, device_id: str, token: str) -> Credentials:
        cred = self.credentials.get(device_id)
        if cred is None:
            cred = Credentials(new_id(), device_id, token)
            self.credentials[device_id] = cred
        else:
            self.by_token.pop(cred.credentials_id, None)
            cred.credentials_id = token
            cred.credentials_type = "ACCESS_TOKEN"
            cred.credentials_value = None
            cred.version += 1
        self.by_token[token] = device_id
        self._persist("credentials", cred)
        return cred

    def update_credentials(  # noqa: C901, PLR0912 - ACCESS_TOKEN and MQTT_BASIC, with TB's checks
        self, principal: Principal, body: dict[str, Any], *, allow_new: bool = False
    ) -> Credentials:
        device_id = _id_of(body.get("deviceId"))
        if not device_id:
            raise bad_request("Device credentials should be assigned to device!")
        device: Device = self.check_entity(principal, "DEVICE", device_id)
        if principal.authority != "TENANT_ADMIN" and not allow_new:
            raise forbidden()
        cred_type = body.get("credentialsType") or "ACCESS_TOKEN"
        cred_id = body.get("credentialsId")
        current = self.credentials.get(device.id)
        if current is not None and not allow_new:
            given_id = _id_of(body.get("id"))
            if given_id and given_id != current.id:
                raise bad_request("Device credentials id mismatch!")
        if cred_type == "ACCESS_TOKEN":
            if not isinstance(cred_id, str) or not cred_id:
                raise bad_request("Device credentials id should be specified!")
            if len(cred_id) > 32 or any(c.isspace() for c in cred_id):
                raise bad_request("Access token should not contain spaces and be longer than 32 characters!")
            owner = self.by_token.get(cred_id)
            if owner is not None and owner != device.id:
                raise bad_request("Device credentials are already assigned to another device!")
            changed = (
                current is None or current.credentials_id != cred_id or current.credentials_type != cred_type
            )
            cred = self.set_token(device.id, cred_id)
        elif cred_type == "MQTT_BASIC":
            value = body.get("credentialsValue")
            if not isinstance(value, str) or not value:
                raise bad_request("Device credentials value should be specified!")
            if current is not None:
                self.by_token.pop(current.credentials_id, None)
            cred = current or Credentials(new_id(), device.id, "")
            cred.credentials_type = "MQTT_BASIC"
            cred.credentials_id = str(cred_id or secrets.token_hex(16))
            cred.credentials_value = value
            cred.version += 1
            self.credentials[device.id] = cred
            self._persist("credentials", cred)
            changed = True
        else:
            raise bad_request(f"Unsupported credentials type: {cred_type}")
        if changed and current is not None:
            # TB closes live sessions when the credentials change: the device reconnects with the new ones.
            self.device_api.close_device_sessions(device.id, "credentials updated")
        return cred

    def assign(self, principal: Principal, customer_id: str, device_id: str) -> Device:
        if principal.authority != "TENANT_ADMIN":
            raise forbidden()
        customer = self.customers.get(customer_id)
        if customer is None:
            raise entity_not_found("Customer", customer_id)
        if customer.tenant_id != principal.tenant_id:
            raise forbidden()
        device: Device = self.check_entity(principal, "DEVICE", device_id)
        device.customer_id = customer.id
        device.version += 1
        self._persist("device", device)
        return device

    def unassign(self, principal: Principal, device_id: str, *, strict: bool = True) -> Device:
        if principal.authority != "TENANT_ADMIN":
            raise forbidden()
        device: Device = self.check_entity(principal, "DEVICE", device_id)
        if device.customer_id == NULL_UUID:
            if strict:
                raise bad_request("Device isn't assigned to any customer!")
            return device
        device.customer_id = NULL_UUID
        device.version += 1
        self._persist("device", device)
        return device

    def delete_device(self, principal: Principal, device_id: str) -> None:
        if principal.authority != "TENANT_ADMIN":
            raise forbidden()
        device: Device = self.check_entity(principal, "DEVICE", device_id)
        self._remove_device(device)

    def _remove_device(self, device: Device) -> None:
        self.device_api.close_device_sessions(device.id, "device deleted")
        self.rpc.forget(device.id)
        self.persistent_rpc.forget_device(device.id)
        self.device_api.forget_device(device.id)
        cred = self.credentials.pop(device.id, None)
        if cred is not None:
            self.by_token.pop(cred.credentials_id, None)
            self._unpersist("credentials", device.id)
        self.devices.pop(device.id, None)
        self.activity.pop(device.id, None)
        self.telemetry.forget(device.id)
        self._unpersist("device", device.id)

    def persist_user(self, user: User) -> None:
        self._persist("user", user)

    def persist_device(self, device: Device) -> None:
        self._persist("device", device)

    def persist_credentials(self, cred: Credentials) -> None:
        self._persist("credentials", cred)

    def device_active(self, device_id: str) -> bool:
        state = self.activity.get(device_id)
        return bool(state and state.active)

    # --- attributes & telemetry with side effects -----------------------------------------------------------

    def save_attributes(self, entity_id: str, scope: AttributeScope, values: dict[str, Any]) -> None:
        self.telemetry.save_attributes(entity_id, scope, values, now_ms())
        if scope == "SHARED_SCOPE" and entity_id in self.devices and values:
            self.device_api.push_attributes(entity_id, dict(values))

    def delete_attributes(self, entity_id: str, scope: AttributeScope, keys: list[str]) -> None:
        deleted = self.telemetry.delete_attributes(entity_id, scope, keys)
        if scope == "SHARED_SCOPE" and deleted and entity_id in self.devices:
            self.device_api.push_attributes(entity_id, {"deleted": deleted})

    # --- activity (reference §6.3) --------------------------------------------------------------------------

    def touch(self, device_id: str) -> None:
        state = self.activity.get(device_id)
        if state is None:
            return
        now = now_ms()
        state.last_activity_ms = now
        values: dict[str, Any] = {"lastActivityTime": now}
        if not state.active:
            state.active = True
            values["active"] = True
        self.telemetry.save_attributes(device_id, "SERVER_SCOPE", values, now)

    def _inactivity_timeout_ms(self, device_id: str) -> float:
        override = self.telemetry.attribute(device_id, "SERVER_SCOPE", "inactivityTimeout")
        if isinstance(override, int | float) and not isinstance(override, bool) and override > 0:
            return float(override)
        return self.config.inactivity_timeout_s * 1000

    def check_inactivity(self) -> None:
        now = now_ms()
        for device_id, state in self.activity.items():
            if state.active and now - state.last_activity_ms > self._inactivity_timeout_ms(device_id):
                state.active = False
                self.telemetry.save_attributes(
                    device_id, "SERVER_SCOPE", {"active": False, "inactivityAlarmTime": now}, now
                )

    async def _inactivity_loop(self) -> None:
        # TB checks every 60 s; tests shorten the timeout, so the check interval follows it.
        interval = max(0.02, min(self.config.inactivity_timeout_s / 5, 1.0))
        while True:
            await asyncio.sleep(interval)
            self.check_inactivity()


def _check_not_outdated(claims: dict[str, Any], user: User) -> None:
    iat = claims.get("iat")
    if isinstance(iat, int) and iat < user.tokens_valid_after_s:
        raise unauthorized("Token is outdated")


def _id_of(value: Any) -> str | None:
    if isinstance(value, dict):
        inner = value.get("id")
        return inner if isinstance(inner, str) and inner else None
    if isinstance(value, str) and value:
        return value
    return None


def monotonic_ms() -> float:
    return time.monotonic() * 1000


if TYPE_CHECKING:

    def _conforms(core: Core) -> tuple[TelemetryReader, DeviceApi]:
        """mypy checks here that the core implements both seams of contracts.py."""
        return core, core.device_api
