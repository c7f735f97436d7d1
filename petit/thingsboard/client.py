"""``ThingsBoardClient``: the port over tb-rest-client's synchronous ``RestClientCE``.

Every call runs on a bounded thread pool so the event loop never blocks, has a deadline
(``request_timeout_s``; RPC adds the device's timeout), retries only where repeating is harmless, and leaves
as a typed ``ThingsBoardError``. Each principal (the tenant admin, each customer user) gets its own
``RestClientCE`` bound to one token; a new token builds a new client instead of mutating the old one, so a
request in flight never sees a half-swapped configuration.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import secrets
import string
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import urllib3
from tb_rest_client.api_client import ApiClient
from tb_rest_client.configuration import Configuration
from tb_rest_client.models.models_ce import Customer as TbCustomer
from tb_rest_client.models.models_ce import CustomerId, DeviceId, User
from tb_rest_client.rest import ApiException, RESTClientObject
from tb_rest_client.rest_client_ce import RestClientCE

from petit.thingsboard import mapping
from petit.thingsboard.errors import (
    ThingsBoardAuthError,
    ThingsBoardBadRequestError,
    ThingsBoardError,
    ThingsBoardForbiddenError,
    ThingsBoardNotFoundError,
    ThingsBoardProtocolError,
    ThingsBoardRateLimitedError,
    ThingsBoardUnavailableError,
)
from petit.thingsboard.models import (
    AttributeScope,
    DeviceCredentials,
    DeviceRecord,
    HistoryQuery,
    OwnerAccount,
    Page,
    Reading,
    StreamAccess,
    ThingsBoardConfig,
    TokenPair,
    Value,
)
from petit.thingsboard.stream import StreamListener, ThingsBoardStream
from petit.thingsboard.tokens import MemoryTokenStore, RedisTokenStore, TokenManager, TokenStats, TokenStore

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from uuid import UUID

    from redis.asyncio import Redis

log = logging.getLogger(__name__)

T = TypeVar("T")

_TOKEN_ALPHABET = string.ascii_letters + string.digits
#: How many customer-user clients to keep; each holds a small connection pool.
_MAX_SESSIONS = 256


class _DeadlineRest(RESTClientObject):  # type: ignore[misc]
    """tb-rest-client passes ``timeout=None`` to urllib3 (wait forever) unless told; default every request."""

    def __init__(self, configuration: Configuration, timeout_s: float, pool_size: int) -> None:
        super().__init__(configuration, maxsize=pool_size)
        self._timeout = (timeout_s, timeout_s)

    def request(self, *args: Any, _request_timeout: Any = None, **kwargs: Any) -> Any:
        # Its timeout parsing accepts an int or a (connect, read) tuple only: floats would be ignored.
        return super().request(*args, _request_timeout=_request_timeout or self._timeout, **kwargs)


@dataclass(frozen=True, slots=True)
class _Session:
    key: str
    pair: TokenPair
    rest: RestClientCE


def _device_ref(device_id: UUID) -> DeviceId:
    return DeviceId(str(device_id), "DEVICE")


def _customer_ref(owner_id: UUID) -> CustomerId:
    return CustomerId(str(owner_id), "CUSTOMER")


def _random_token() -> str:
    # Same shape as the tokens ThingsBoard generates itself: 20 alphanumerics.
    return "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(20))


def _checked(result: T) -> T:
    # tb-rest-client's deserialiser returns (not raises) the exception when a model rejects the JSON.
    if isinstance(result, Exception):
        raise ThingsBoardProtocolError(f"unreadable ThingsBoard response: {type(result).__name__}")
    return result


def _translate_in_thread(fn: Callable[[], T], rpc: bool) -> T:  # noqa: FBT001 - positional for run_in_executor
    try:
        return _checked(fn())
    except ApiException as exc:
        raise mapping.error_from_tb(exc.status or 0, exc.body, exc.headers, rpc=rpc) from None
    except (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError) as exc:
        raise ThingsBoardUnavailableError(
            f"cannot connect to ThingsBoard: {type(exc).__name__}", request_sent=False
        ) from None
    except urllib3.exceptions.MaxRetryError as exc:
        sent = not isinstance(
            exc.reason, urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError
        )
        raise ThingsBoardUnavailableError(
            f"ThingsBoard unreachable: {type(exc.reason).__name__}", request_sent=sent
        ) from None
    except urllib3.exceptions.HTTPError as exc:
        raise ThingsBoardUnavailableError(f"ThingsBoard connection failed: {type(exc).__name__}") from None
    except ValueError as exc:
        # tb-rest-client's models validate required fields in their setters.
        raise ThingsBoardProtocolError(f"unexpected ThingsBoard data: {exc}") from None


class ThingsBoardClient:
    """The ThingsBoard port over tb-rest-client; one instance per petit worker process."""

    def __init__(
        self,
        config: ThingsBoardConfig,
        *,
        token_store: TokenStore | None = None,
        redis: Redis[Any] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._base_url = config.url.rstrip("/")
        store = token_store or (RedisTokenStore(redis) if redis is not None else MemoryTokenStore(clock))
        self._tokens = TokenManager(store, clock=clock, skew_s=config.token_refresh_skew_s)
        self._executor = ThreadPoolExecutor(max_workers=config.max_workers, thread_name_prefix="thingsboard")
        # Commands hold a thread while the device thinks: their own pool, so reads never queue behind them.
        self._rpc_executor = ThreadPoolExecutor(
            max_workers=config.max_workers, thread_name_prefix="thingsboard-rpc"
        )
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self._background: set[asyncio.Future[None]] = set()
        self._anonymous = self._api_client()
        self._tenant_key = f"{config.key_prefix}:token:tenant"

    @property
    def token_stats(self) -> TokenStats:
        return self._tokens.stats

    async def aclose(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._rpc_executor.shutdown(wait=False, cancel_futures=True)

    # Plumbing

    def _api_client(self) -> ApiClient:
        configuration = Configuration()
        configuration.host = self._base_url
        api = ApiClient(configuration)
        api.rest_client = _DeadlineRest(
            configuration, self._config.request_timeout_s, self._config.max_workers
        )
        return api

    def _new_rest(self, pair: TokenPair) -> RestClientCE:
        rest = RestClientCE(self._base_url)
        rest.token_login(pair.access, pair.refresh)
        rest.api_client.rest_client = _DeadlineRest(
            rest.configuration, self._config.request_timeout_s, self._config.max_workers
        )
        return rest

    async def _in_thread(self, fn: Callable[[], T], *, rpc: bool = False) -> T:
        loop = asyncio.get_running_loop()
        executor = self._rpc_executor if rpc else self._executor
        return await loop.run_in_executor(executor, _translate_in_thread, fn, rpc)

    async def _login_tenant(self) -> TokenPair:
        body = {"username": self._config.username, "password": self._config.password}
        data = await self._in_thread(lambda: self._post_auth("/api/auth/login", body))
        log.info("thingsboard.token.login")
        return mapping.token_pair_from_tb(data)

    async def _refresh(self, refresh_token: str) -> TokenPair:
        data = await self._in_thread(
            lambda: self._post_auth("/api/auth/token", {"refreshToken": refresh_token})
        )
        return mapping.token_pair_from_tb(data)

    def _post_auth(self, path: str, body: dict[str, str]) -> Any:
        return self._anonymous.call_api(
            path,
            "POST",
            header_params={"Accept": "application/json", "Content-Type": "application/json"},
            body=body,
            response_type="object",
            auth_settings=[],
            _return_http_data_only=True,
        )

    def _user_key(self, account_id: UUID) -> str:
        return f"{self._config.key_prefix}:token:user:{account_id}"

    async def _user_pair(self, account_id: UUID) -> TokenPair:
        async def login() -> TokenPair:
            data = await self._call(lambda rc: rc.get_user_token(str(account_id)), idempotent=True)
            return mapping.token_pair_from_tb(data)

        return await self._tokens.get(self._user_key(account_id), login=login, refresh=self._refresh)

    async def _session(self, key: str, account_id: UUID | None) -> _Session:
        if account_id is None:
            pair = await self._tokens.get(key, login=self._login_tenant, refresh=self._refresh)
        else:
            pair = await self._user_pair(account_id)
        session = self._sessions.get(key)
        if session is None or session.pair.access != pair.access:
            session = _Session(key=key, pair=pair, rest=self._new_rest(pair))
            self._sessions[key] = session
        self._sessions.move_to_end(key)
        while len(self._sessions) > _MAX_SESSIONS:
            self._sessions.popitem(last=False)
        return session

    def _retryable(self, exc: ThingsBoardError, *, idempotent: bool, attempt: int) -> bool:
        if attempt >= self._config.max_attempts:
            return False
        if isinstance(exc, ThingsBoardRateLimitedError):
            return True
        if isinstance(exc, ThingsBoardUnavailableError):
            return idempotent or not exc.request_sent
        return False

    @staticmethod
    def _backoff(exc: ThingsBoardError, attempt: int) -> float:
        if isinstance(exc, ThingsBoardRateLimitedError) and exc.retry_after_s is not None:
            return exc.retry_after_s
        # Full jitter so workers that failed together do not come back together.
        return random.uniform(0, 0.1 * 2 ** (attempt - 1))  # noqa: S311 - jitter, not a secret

    async def _call(
        self,
        fn: Callable[[RestClientCE], T],
        *,
        idempotent: bool,
        account_id: UUID | None = None,
        rpc: bool = False,
        budget_s: float | None = None,
    ) -> T:
        """Run ``fn`` against the principal's client under one deadline, retrying only what is safe."""
        loop = asyncio.get_running_loop()
        budget = budget_s if budget_s is not None else self._config.request_timeout_s
        deadline = loop.time() + budget
        key = self._tenant_key if account_id is None else self._user_key(account_id)
        attempt = 0
        reauthenticated = False
        while True:
            attempt += 1
            try:
                async with asyncio.timeout_at(deadline):
                    session = await self._session(key, account_id)
                    try:
                        return await self._in_thread(functools.partial(fn, session.rest), rpc=rpc)
                    except ThingsBoardAuthError as exc:
                        # A 401 on a token we believed valid (TB restarted, token revoked): the request
                        # did not run, so fetch a new token once and repeat.
                        if isinstance(exc, ThingsBoardForbiddenError) or reauthenticated:
                            raise
                        reauthenticated = True
                        await self._tokens.invalidate(key, session.pair.access)
                        attempt -= 1
                        continue
            except TimeoutError:
                raise ThingsBoardUnavailableError(f"ThingsBoard did not answer within {budget:g}s") from None
            except (ThingsBoardUnavailableError, ThingsBoardRateLimitedError) as exc:
                if not self._retryable(exc, idempotent=idempotent, attempt=attempt):
                    raise
                delay = self._backoff(exc, attempt)
                if loop.time() + delay >= deadline:
                    raise
                log.info("thingsboard.retry", extra={"attempt": attempt, "error": type(exc).__name__})
                await asyncio.sleep(delay)

    # Health

    async def check_health(self) -> None:
        await self._call(lambda rc: rc.get_user(), idempotent=True)

    # Owners

    def _find_customer(self, rc: RestClientCE, title: str) -> Any | None:
        try:
            return rc.get_tenant_customer(title)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def _find_user(self, rc: RestClientCE, customer: Any, email: str) -> Any | None:
        page = _checked(rc.get_customer_users(customer.id, page_size=100, page=0))
        wanted = email.strip().lower()
        return next((u for u in page.data or [] if (u.email or "").lower() == wanted), None)

    def _ensure_owner(self, rc: RestClientCE, email: str) -> OwnerAccount:
        title = mapping.customer_title(self._config.customer_title_prefix, email)
        customer = self._find_customer(rc, title)
        if customer is None:
            try:
                customer = rc.save_customer(TbCustomer(title=title))
            except ApiException as exc:
                # Another worker created it between our lookup and our create: use theirs.
                customer = self._find_customer(rc, title)
                if customer is None:
                    raise exc from None
        customer = _checked(customer)
        user = self._find_user(rc, customer, email)
        if user is None:
            new_user = User(
                email=email.strip().lower(),
                authority="CUSTOMER_USER",
                customer_id=_customer_ref(mapping.entity_uuid(customer.id)),  # type: ignore[arg-type]
                first_name=None,
            )
            try:
                user = rc.save_user(new_user, send_activation_mail=False)
            except ApiException:
                user = self._find_user(rc, customer, email)
                if user is None:
                    raise
        return mapping.owner_from_tb(customer, _checked(user))

    async def ensure_owner(self, email: str) -> OwnerAccount:
        # Idempotent by construction (find by title/email first), so a retry cannot make a second customer.
        return await self._call(lambda rc: self._ensure_owner(rc, email), idempotent=True)

    def _lookup_owner(self, rc: RestClientCE, email: str) -> OwnerAccount | None:
        customer = self._find_customer(rc, mapping.customer_title(self._config.customer_title_prefix, email))
        if customer is None:
            return None
        user = self._find_user(rc, customer, email)
        return None if user is None else mapping.owner_from_tb(customer, user)

    async def find_owner(self, email: str) -> OwnerAccount | None:
        return await self._call(lambda rc: self._lookup_owner(rc, email), idempotent=True)

    async def delete_owner(self, owner_id: UUID) -> None:
        try:
            await self._call(lambda rc: rc.delete_customer(_customer_ref(owner_id)), idempotent=True)
        except ThingsBoardNotFoundError:
            return

    async def stream_access(self, account_id: UUID) -> StreamAccess:
        pair = await self._user_pair(account_id)
        return StreamAccess(
            token=pair.access, expires_at=pair.access_exp, ws_url=mapping.ws_url(self._base_url)
        )

    # Push

    def open_stream(self, listener: StreamListener) -> ThingsBoardStream:
        async def token() -> str:
            pair = await self._tokens.get(self._tenant_key, login=self._login_tenant, refresh=self._refresh)
            return pair.access

        async def invalidate(access: str) -> None:
            await self._tokens.invalidate(self._tenant_key, access)

        return ThingsBoardStream(
            mapping.ws_url(self._base_url), token=token, invalidate_token=invalidate, listener=listener
        )

    # Devices

    async def create_device(
        self,
        name: str,
        *,
        owner_id: UUID | None,
        label: str | None = None,
        profile: str = "default",
        access_token: str | None = None,
    ) -> DeviceRecord:
        # tb-rest-client's Device model insists on a profile id; TB itself resolves the profile from ``type``.
        body: dict[str, Any] = {"name": name, "type": profile}
        if label is not None:
            body["label"] = label
        query = [("accessToken", access_token)] if access_token else []

        def create(rc: RestClientCE) -> Any:
            return rc.api_client.call_api(
                "/api/device",
                "POST",
                query_params=query,
                header_params={"Accept": "application/json", "Content-Type": "application/json"},
                body=body,
                response_type="object",
                auth_settings=["X-Authorization"],
                _return_http_data_only=True,
            )

        # Not retried: a lost answer may mean the device exists; callers find it by name to compensate.
        created = await self._call(create, idempotent=False)
        device = mapping.device_from_tb(created)
        if owner_id is None:
            return device
        try:
            return await self.assign_device(device.id, owner_id)
        except BaseException:
            # Never leave a device nobody owns: undo the create, even if our caller is being cancelled
            # (the shielded delete carries on after the cancellation propagates).
            cleanup = asyncio.ensure_future(self._delete_quietly(device.id))
            # The loop keeps only weak references to tasks: hold this one until it is done.
            self._background.add(cleanup)
            cleanup.add_done_callback(self._background.discard)
            await asyncio.shield(cleanup)
            raise

    async def _delete_quietly(self, device_id: UUID) -> None:
        try:
            await self.delete_device(device_id)
        except ThingsBoardError:
            log.warning("thingsboard.device.compensation_failed", extra={"device_id": str(device_id)})

    async def get_device(self, device_id: UUID) -> DeviceRecord:
        raw = await self._call(lambda rc: rc.get_device_by_id(_device_ref(device_id)), idempotent=True)
        return mapping.device_from_tb(raw)

    async def find_device(self, name: str) -> DeviceRecord | None:
        try:
            raw = await self._call(lambda rc: rc.get_tenant_device(name), idempotent=True)
        except ThingsBoardNotFoundError:
            return None
        return mapping.device_from_tb(raw)

    async def list_devices(
        self, *, page: int = 0, page_size: int = 100, owner_id: UUID | None = None
    ) -> Page[DeviceRecord]:
        def fetch(rc: RestClientCE) -> Any:
            if owner_id is None:
                return rc.get_tenant_devices(page_size, page, sort_property="createdTime", sort_order="ASC")
            return rc.get_customer_devices(
                _customer_ref(owner_id), page_size, page, sort_property="createdTime", sort_order="ASC"
            )

        raw = await self._call(fetch, idempotent=True)
        return Page(
            items=tuple(mapping.device_from_tb(d) for d in raw.data or []),
            total=int(raw.total_elements or 0),
            has_next=bool(raw.has_next),
        )

    async def update_device(
        self, device_id: UUID, *, name: str | None = None, label: str | None = None
    ) -> DeviceRecord:
        def update(rc: RestClientCE) -> Any:
            device = _checked(rc.get_device_by_id(_device_ref(device_id)))
            if name is not None:
                device.name = name
            if label is not None:
                device.label = label
            return rc.save_device(device)

        # Setting fields to given values is idempotent, so a retry is harmless.
        return mapping.device_from_tb(await self._call(update, idempotent=True))

    async def delete_device(self, device_id: UUID) -> None:
        try:
            await self._call(lambda rc: rc.delete_device(_device_ref(device_id)), idempotent=True)
        except ThingsBoardNotFoundError:
            return

    async def assign_device(self, device_id: UUID, owner_id: UUID) -> DeviceRecord:
        raw = await self._call(
            lambda rc: rc.assign_device_to_customer(_customer_ref(owner_id), _device_ref(device_id)),
            idempotent=True,
        )
        return mapping.device_from_tb(raw)

    async def unassign_device(self, device_id: UUID) -> DeviceRecord:
        try:
            raw = await self._call(
                lambda rc: rc.unassign_device_from_customer(_device_ref(device_id)), idempotent=True
            )
        except ThingsBoardBadRequestError:
            # "Device isn't assigned to any customer!": already where we want it.
            return await self.get_device(device_id)
        return mapping.device_from_tb(raw)

    # Credentials

    def _credentials(self, raw: Any) -> DeviceCredentials:
        return mapping.credentials_from_tb(
            raw, mqtt_host=self._config.mqtt_host, mqtt_port=self._config.mqtt_port
        )

    async def get_credentials(self, device_id: UUID) -> DeviceCredentials:
        raw = await self._call(
            lambda rc: rc.get_device_credentials_by_device_id(_device_ref(device_id)), idempotent=True
        )
        return self._credentials(raw)

    async def rotate_credentials(self, device_id: UUID, access_token: str | None = None) -> DeviceCredentials:
        # Chosen once, before any retry, so a repeated attempt writes the same value.
        token = access_token or _random_token()

        def rotate(rc: RestClientCE) -> Any:
            current = _checked(rc.get_device_credentials_by_device_id(_device_ref(device_id)))
            current.credentials_type = "ACCESS_TOKEN"
            current.credentials_id = token
            current.credentials_value = None
            return rc.update_device_credentials(current)

        return self._credentials(await self._call(rotate, idempotent=True))

    # Telemetry

    async def latest_readings(self, device_id: UUID, keys: Sequence[str]) -> dict[str, Reading | None]:
        wanted = tuple(keys)
        if not wanted:
            return {}
        raw = await self._call(
            lambda rc: rc.get_latest_timeseries(
                _device_ref(device_id), keys=",".join(wanted), use_strict_data_types=True
            ),
            idempotent=True,
        )
        return mapping.latest_from_tb(raw, wanted)

    async def reading_history(self, device_id: UUID, query: HistoryQuery) -> dict[str, list[Reading]]:
        if not query.keys:
            return {}
        raw = await self._call(
            lambda rc: rc.get_timeseries(
                _device_ref(device_id),
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
        raw = await self._call(lambda rc: rc.get_timeseries_keys_v1(_device_ref(device_id)), idempotent=True)
        if not isinstance(raw, list):
            raise ThingsBoardProtocolError("telemetry keys are not a list")
        return [str(k) for k in raw]

    # Attributes

    async def get_attributes(
        self, device_id: UUID, scope: AttributeScope, keys: Sequence[str] | None = None
    ) -> dict[str, Value]:
        joined = ",".join(keys) if keys else None
        raw = await self._call(
            lambda rc: rc.get_attributes_by_scope(
                _device_ref(device_id), mapping.SCOPE_TO_TB[scope], keys=joined
            ),
            idempotent=True,
        )
        return mapping.attributes_from_tb(raw)

    async def save_attributes(
        self, device_id: UUID, scope: AttributeScope, values: Mapping[str, Value]
    ) -> None:
        if scope is AttributeScope.REPORTED:
            raise ThingsBoardBadRequestError("reported attributes are written by the device only")
        body = dict(values)
        await self._call(
            lambda rc: rc.save_entity_attributes_v2(
                _device_ref(device_id), mapping.SCOPE_TO_TB[scope], body=body
            ),
            idempotent=True,
        )

    async def delete_attributes(self, device_id: UUID, scope: AttributeScope, keys: Sequence[str]) -> None:
        if not keys:
            return
        joined = ",".join(keys)
        await self._call(
            lambda rc: rc.delete_entity_attributes(
                _device_ref(device_id), mapping.SCOPE_TO_TB[scope], keys=joined
            ),
            idempotent=True,
        )

    # Commands

    async def call_device(
        self,
        device_id: UUID,
        method: str,
        params: Any = None,
        *,
        expect_reply: bool = True,
        timeout_s: float = 10.0,
    ) -> Any:
        body = {
            "method": method,
            "params": params if params is not None else {},
            "timeout": int(timeout_s * 1000),
            # TB stretches "timeout" to at least 5 s; an explicit expiry is honoured as given.
            "expirationTime": int((time.time() + timeout_s) * 1000),
        }
        path = "/api/rpc/twoway/{deviceId}" if expect_reply else "/api/rpc/oneway/{deviceId}"
        # ThingsBoard holds the request until the device answers or the RPC expires; wait a little longer.
        read_timeout = timeout_s + self._config.request_timeout_s

        def send(rc: RestClientCE) -> Any:
            return rc.api_client.call_api(
                path,
                "POST",
                path_params={"deviceId": str(device_id)},
                header_params={"Accept": "application/json", "Content-Type": "application/json"},
                body=body,
                response_type="object",
                auth_settings=["X-Authorization"],
                _return_http_data_only=True,
                _request_timeout=(self._config.request_timeout_s, read_timeout),
            )

        # Commands act on the world: never repeated unless the request provably never left.
        result = await self._call(send, idempotent=False, rpc=True, budget_s=read_timeout)
        return None if result in (b"", "") else result

    # Provisioning and device-side writes

    async def ensure_provisioning_profile(self, name: str, *, key: str, secret: str) -> None:
        def ensure(rc: RestClientCE) -> Any:
            found = rc.api_client.call_api(
                "/api/deviceProfiles",
                "GET",
                query_params=[("pageSize", 100), ("page", 0), ("textSearch", name)],
                header_params={"Accept": "application/json"},
                response_type="object",
                auth_settings=["X-Authorization"],
                _return_http_data_only=True,
            )
            rows = found.get("data", []) if isinstance(found, dict) else []
            body: dict[str, Any] = next((dict(r) for r in rows if r.get("name") == name), {"name": name})
            body.setdefault("type", "DEFAULT")
            body.setdefault("transportType", "DEFAULT")
            body["provisionType"] = "ALLOW_CREATE_NEW_DEVICES"
            body["provisionDeviceKey"] = key
            data = dict(body.get("profileData") or {})
            data.setdefault("configuration", {"type": "DEFAULT"})
            data.setdefault("transportConfiguration", {"type": "DEFAULT"})
            data["provisionConfiguration"] = {
                "type": "ALLOW_CREATE_NEW_DEVICES",
                "provisionDeviceSecret": secret,
            }
            body["profileData"] = data
            return rc.api_client.call_api(
                "/api/deviceProfile",
                "POST",
                header_params={"Accept": "application/json", "Content-Type": "application/json"},
                body=body,
                response_type="object",
                auth_settings=["X-Authorization"],
                _return_http_data_only=True,
            )

        # Find-then-save converges on the same profile however often it runs.
        await self._call(ensure, idempotent=True)

    async def save_readings(
        self, device_id: UUID, values: Mapping[str, Value], *, ts_ms: int | None = None
    ) -> None:
        body: dict[str, Any] = {"values": dict(values)}
        # Stamped once here, so a retried write stores the same sample rather than a second one.
        body["ts"] = ts_ms if ts_ms is not None else int(time.time() * 1000)

        def save(rc: RestClientCE) -> Any:
            return rc.api_client.call_api(
                f"/api/plugins/telemetry/DEVICE/{device_id}/timeseries/ANY",
                "POST",
                header_params={"Accept": "application/json", "Content-Type": "application/json"},
                body=body,
                auth_settings=["X-Authorization"],
                _return_http_data_only=True,
            )

        await self._call(save, idempotent=True)

    # Claiming

    async def claim_device(self, account_id: UUID, device_name: str, secret_key: str = "") -> DeviceRecord:
        # TB answers a claim with no body with a 500; always send the secret, even empty.
        body = {"secretKey": secret_key}
        raw = await self._call(
            lambda rc: rc.device_controller.claim_device_using_post1(device_name, body=body),
            idempotent=False,
            account_id=account_id,
        )
        if not isinstance(raw, dict) or "device" not in raw:
            raise ThingsBoardProtocolError("claim answer without device")
        return mapping.device_from_tb(raw["device"])

    async def release_device(self, device_name: str) -> None:
        await self._call(lambda rc: rc.re_claim_device(device_name), idempotent=True)


__all__ = ["ThingsBoardClient"]
