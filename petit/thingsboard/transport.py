"""The one way a ThingsBoard REST call is made: thread pool, deadline, retries, tokens, typed errors.

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
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import urllib3
from tb_rest_client.api_client import ApiClient
from tb_rest_client.configuration import Configuration
from tb_rest_client.models.models_ce import CustomerId, DeviceId
from tb_rest_client.rest import ApiException, RESTClientObject
from tb_rest_client.rest_client_ce import RestClientCE

from petit.thingsboard import mapping
from petit.thingsboard.errors import (
    ThingsBoardAuthError,
    ThingsBoardError,
    ThingsBoardForbiddenError,
    ThingsBoardProtocolError,
    ThingsBoardRateLimitedError,
    ThingsBoardUnavailableError,
)
from petit.thingsboard.tokens import MemoryTokenStore, RedisTokenStore, TokenManager, TokenStats, TokenStore

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from uuid import UUID

    from redis.asyncio import Redis

    from petit.thingsboard.models import ThingsBoardConfig, TokenPair

log = logging.getLogger(__name__)

T = TypeVar("T")

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


def device_ref(device_id: UUID) -> DeviceId:
    return DeviceId(str(device_id), "DEVICE")


def customer_ref(owner_id: UUID) -> CustomerId:
    return CustomerId(str(owner_id), "CUSTOMER")


def checked(result: T) -> T:
    # tb-rest-client's deserialiser returns (not raises) the exception when a model rejects the JSON.
    if isinstance(result, Exception):
        raise ThingsBoardProtocolError(f"unreadable ThingsBoard response: {type(result).__name__}")
    return result


def call_json(
    api: ApiClient,
    path: str,
    method: str,
    *,
    body: Any = None,
    query: Sequence[tuple[str, Any]] = (),
    path_params: dict[str, str] | None = None,
    response_type: str | None = "object",
    authenticated: bool = True,
    request_timeout: tuple[float, float] | None = None,
) -> Any:
    """An endpoint tb-rest-client has no (usable) method for, as JSON; run it inside ``Transport.call``."""
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    return api.call_api(
        path,
        method,
        path_params=path_params,
        query_params=list(query) or None,
        header_params=headers,
        body=body,
        response_type=response_type,
        auth_settings=["X-Authorization"] if authenticated else [],
        _return_http_data_only=True,
        _request_timeout=request_timeout,
    )


def _translate_in_thread(fn: Callable[[], T], rpc: bool) -> T:  # noqa: FBT001 - positional for run_in_executor
    try:
        return checked(fn())
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


class Endpoints:
    """Base of the endpoint modules ``ThingsBoardClient`` is assembled from; they share one transport."""

    _transport: Transport


class Transport:
    """Sessions, tokens and the call path shared by every endpoint module; one per ``ThingsBoardClient``."""

    def __init__(
        self,
        config: ThingsBoardConfig,
        *,
        token_store: TokenStore | None = None,
        redis: Redis[Any] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.base_url = config.url.rstrip("/")
        store = token_store or (RedisTokenStore(redis) if redis is not None else MemoryTokenStore(clock))
        self._tokens = TokenManager(store, clock=clock, skew_s=config.token_refresh_skew_s)
        self._executor = ThreadPoolExecutor(max_workers=config.max_workers, thread_name_prefix="thingsboard")
        # Commands hold a thread while the device thinks: their own pool, so reads never queue behind them.
        self._rpc_executor = ThreadPoolExecutor(
            max_workers=config.max_workers, thread_name_prefix="thingsboard-rpc"
        )
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self._anonymous = self._api_client()
        self._tenant_key = f"{config.key_prefix}:token:tenant"

    @property
    def token_stats(self) -> TokenStats:
        return self._tokens.stats

    async def aclose(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._rpc_executor.shutdown(wait=False, cancel_futures=True)

    def _api_client(self) -> ApiClient:
        configuration = Configuration()
        configuration.host = self.base_url
        api = ApiClient(configuration)
        api.rest_client = _DeadlineRest(configuration, self.config.request_timeout_s, self.config.max_workers)
        return api

    def _new_rest(self, pair: TokenPair) -> RestClientCE:
        rest = RestClientCE(self.base_url)
        rest.token_login(pair.access, pair.refresh)
        rest.api_client.rest_client = _DeadlineRest(
            rest.configuration, self.config.request_timeout_s, self.config.max_workers
        )
        return rest

    async def _in_thread(self, fn: Callable[[], T], *, rpc: bool = False) -> T:
        loop = asyncio.get_running_loop()
        executor = self._rpc_executor if rpc else self._executor
        return await loop.run_in_executor(executor, _translate_in_thread, fn, rpc)

    # Tokens

    async def _login_tenant(self) -> TokenPair:
        body = {"username": self.config.username, "password": self.config.password}
        data = await self._in_thread(lambda: self._post_auth("/api/auth/login", body))
        log.info("thingsboard.token.login")
        return mapping.token_pair_from_tb(data)

    async def _refresh(self, refresh_token: str) -> TokenPair:
        data = await self._in_thread(
            lambda: self._post_auth("/api/auth/token", {"refreshToken": refresh_token})
        )
        return mapping.token_pair_from_tb(data)

    def _post_auth(self, path: str, body: dict[str, str]) -> Any:
        return call_json(self._anonymous, path, "POST", body=body, authenticated=False)

    def _user_key(self, account_id: UUID) -> str:
        return f"{self.config.key_prefix}:token:user:{account_id}"

    async def tenant_pair(self) -> TokenPair:
        return await self._tokens.get(self._tenant_key, login=self._login_tenant, refresh=self._refresh)

    async def invalidate_tenant(self, access: str) -> None:
        await self._tokens.invalidate(self._tenant_key, access)

    async def user_pair(self, account_id: UUID) -> TokenPair:
        """The customer user's token pair, fetched with the tenant's rights the first time."""

        async def login() -> TokenPair:
            data = await self.call(lambda rc: rc.get_user_token(str(account_id)), idempotent=True)
            return mapping.token_pair_from_tb(data)

        return await self._tokens.get(self._user_key(account_id), login=login, refresh=self._refresh)

    async def _session(self, key: str, account_id: UUID | None) -> _Session:
        pair = await (self.tenant_pair() if account_id is None else self.user_pair(account_id))
        session = self._sessions.get(key)
        if session is None or session.pair.access != pair.access:
            session = _Session(key=key, pair=pair, rest=self._new_rest(pair))
            self._sessions[key] = session
        self._sessions.move_to_end(key)
        while len(self._sessions) > _MAX_SESSIONS:
            self._sessions.popitem(last=False)
        return session

    # Retries

    def _retryable(self, exc: ThingsBoardError, *, idempotent: bool, attempt: int) -> bool:
        if attempt >= self.config.max_attempts:
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

    async def call(
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
        budget = budget_s if budget_s is not None else self.config.request_timeout_s
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


__all__ = ["Endpoints", "Transport", "call_json", "checked", "customer_ref", "device_ref"]
