"""petit's configuration: one pydantic-settings model, read once and passed down.

Every key is an environment variable with the ``PETIT_`` prefix; groups nest with ``__``
(``PETIT_DB__URL``, ``PETIT_AUTH__JWT_SECRET``). ``.env.example`` documents each key; a test keeps it honest.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from petit.commands.schemas import DEFAULT_MAX_TIMEOUT_MS
from petit.gateway.schemas import DEFAULT_TOKEN_MAX_LIFETIME_MIN
from petit.thingsboard.models import ThingsBoardConfig

#: The JWT secret petit ships with so that ``petit dev`` works out of the box. Refused outside development.
DEV_JWT_SECRET = "dev-only-insecure-jwt-secret-change-me"  # noqa: S105 - a known placeholder, rejected in prod

# Values people paste from tutorials; any of them outside development means "nobody configured a secret".
_PLACEHOLDER_SECRETS = frozenset(
    {DEV_JWT_SECRET, "", "secret", "changeme", "change-me", "changethis", "please-change-me", "jwt-secret"}
)
_MIN_SECRET_LENGTH = 32


def _blank_to_none(value: object) -> object:
    # An empty variable (``PETIT_REDIS__URL=``, as .env.example writes unset keys) means "not set".
    return None if isinstance(value, str) and not value.strip() else value


OptionalStr = Annotated[str | None, BeforeValidator(_blank_to_none)]
OptionalSecret = Annotated[SecretStr | None, BeforeValidator(_blank_to_none)]


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AppSettings(_Group):
    request_max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    """Largest request body accepted; larger bodies get a 413 problem before they are parsed."""
    client_ip_header: OptionalStr = None
    """Header a trusted load balancer sets with the client address (e.g. ``X-Forwarded-For``; the rightmost
    entry is used). Unset: the TCP peer address is the client IP, which is right only without a proxy."""
    cors_allow_origins: list[str] = Field(default_factory=list)
    """Origins allowed by CORS; empty disables CORS."""


class ServerSettings(_Group):
    """How a petit process serves: uvicorn's WebSockets, and the garbage collector's pace."""

    ws_implementation: Literal["lean", "websockets-sansio", "websockets", "wsproto"] = "lean"
    """WebSocket protocol implementation. ``lean`` is uvicorn's ``websockets-sansio`` (no reader task or
    stream buffers per socket) with lighter per-socket state (``petit.serving``), for a process holding
    thousands of ``/ws`` clients. The others are uvicorn's own."""
    ws_per_message_deflate: bool = False
    """Offer permessage-deflate compression on WebSockets. Off: each compressing socket keeps its own zlib
    state, about 40 KiB, more than the rest of the connection, to shrink ~200-byte JSON frames."""
    gc_young_threshold: int = Field(default=50_000, ge=100)
    """Allocations between the collector's young passes (Python's default is 700). Higher: fewer, longer
    young passes and far less collector time with thousands of streams open; cyclic garbage waits longer."""


class DatabaseSettings(_Group):
    url: str = "sqlite+aiosqlite:///./var/petit.sqlite3"
    """SQLAlchemy async URL: ``postgresql+asyncpg://...`` in production, SQLite for ``petit dev``."""
    pool_size: int = Field(default=10, ge=1)
    """Connections kept open per process (PostgreSQL only)."""
    max_overflow: int = Field(default=10, ge=0)
    """Extra connections allowed above ``pool_size`` under load (PostgreSQL only)."""
    echo: bool = False
    """Log every SQL statement (development aid; noisy)."""
    health_timeout_s: float = Field(default=2.0, gt=0)
    """How long readiness waits for ``SELECT 1`` before calling the database down."""
    sqlite_busy_timeout_s: float = Field(default=30.0, ge=0)
    """SQLite only: how long a transaction waits for another one's write lock before failing with
    "database is locked". Writers take turns on one file, so this is how long a write may queue."""


class RedisSettings(_Group):
    url: OptionalStr = None
    """``redis://host:port/db``. Unset: an in-process cache, fine for one process, wrong for several."""
    key_prefix: str = "petit:"
    """Prefix on every key petit writes, so several deployments (or tests) can share one Redis."""
    health_timeout_s: float = Field(default=2.0, gt=0)
    """How long readiness waits for ``PING`` before calling Redis down."""
    command_timeout_s: float = Field(default=1.0, gt=0)
    """How long a request waits for any one Redis command (revocation check, throttle counter) before it
    answers 503 ``redis_unavailable``: every authenticated request makes one, so Redis hanging must not hang
    them."""


class ThingsBoardSettings(_Group):
    url: OptionalStr = None
    """ThingsBoard CE base URL (``http://thingsboard:8080``). Unset: ThingsBoard is not configured."""
    username: OptionalStr = None
    """Tenant administrator petit acts as."""
    password: OptionalSecret = None
    """Password of ``username``."""
    request_timeout_s: float = Field(default=5.0, gt=0)
    """Timeout for each REST call to ThingsBoard, including the readiness probe."""
    mqtt_host: OptionalStr = None
    """MQTT host devices are told to connect to; defaults to the host of ``url``."""
    mqtt_port: int = Field(default=1883, ge=1, le=65535)
    """MQTT port devices are told to connect to."""
    embedded_emulator: bool = False
    """Run the ThingsBoard emulator in-process (``petit dev`` sets it)."""
    max_workers: int = Field(default=8, ge=1, le=64)
    """Threads per petit process for (blocking) ThingsBoard REST calls; bounds concurrent calls too."""

    @model_validator(mode="after")
    def _credentials_with_url(self) -> ThingsBoardSettings:
        if self.url and not (self.username and self.password):
            raise ValueError("PETIT_THINGSBOARD__URL needs PETIT_THINGSBOARD__USERNAME and __PASSWORD")
        return self

    def client_config(self, key_prefix: str) -> ThingsBoardConfig:
        """The adapter's configuration; only meaningful when ``url`` is set."""
        if not (self.url and self.username and self.password):
            raise ValueError("ThingsBoard is not configured (PETIT_THINGSBOARD__URL is unset)")
        return ThingsBoardConfig(
            url=self.url,
            username=self.username,
            password=self.password.get_secret_value(),
            request_timeout_s=self.request_timeout_s,
            max_workers=self.max_workers,
            mqtt_host=self.mqtt_host or urlsplit(self.url).hostname or "127.0.0.1",
            mqtt_port=self.mqtt_port,
            key_prefix=f"{key_prefix}tb",
        )


class AuthSettings(_Group):
    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    """HS256 signing key for access tokens, at least 32 characters. The default only works in development."""
    jwt_issuer: str = "petit"
    """``iss`` claim of access tokens."""
    access_token_ttl_s: int = Field(default=15 * 60, ge=30)
    """Lifetime of an access token."""
    refresh_token_ttl_s: int = Field(default=30 * 24 * 3600, ge=60)
    """Lifetime of a refresh token family member; each refresh issues a new one."""
    # Defaults are the OWASP Password Storage Cheat Sheet's argon2id baseline (19 MiB, 2 passes, 1 lane):
    # about 50 ms per login on one core. Raise them on bigger machines; users are rehashed at next login.
    argon2_time_cost: int = Field(default=2, ge=1)
    """argon2id iterations. Raising it rehashes each password at its owner's next login."""
    argon2_memory_cost_kib: int = Field(default=19 * 1024, ge=8)
    """argon2id memory in KiB. Raising it rehashes each password at its owner's next login."""
    argon2_parallelism: int = Field(default=1, ge=1)
    """argon2id lanes."""
    login_window_s: int = Field(default=300, ge=1)
    """Length of the login throttling window."""
    login_max_failures_per_client: int = Field(default=10, ge=1)
    """Wrong passwords allowed per (email address, client IP) per window; then that pair waits the window
    out. Other clients of the same account are not affected: a lockout cannot be aimed at someone else."""
    login_delay_after_failures: int = Field(default=5, ge=1)
    """Wrong passwords for one account (from anywhere) before its progressive delay starts."""
    login_delay_base_s: float = Field(default=1.0, gt=0)
    """First delay; it doubles with each further failure on the account, up to ``login_delay_max_s``. It only
    applies to clients that have themselves failed on the account: a client that has not still logs in."""
    login_delay_max_s: float = Field(default=30.0, gt=0)
    login_max_per_ip: int = Field(default=100, ge=1)
    """Login attempts allowed per client IP per window, successful or not."""


class TelemetrySettings(_Group):
    history_max_range_days: int = Field(default=31, ge=1, le=3650)
    """Widest time range one telemetry history request may span."""
    history_max_buckets: int = Field(default=10_000, ge=1)
    """Most aggregation intervals one history request may ask ThingsBoard to compute."""


class CommandSettings(_Group):
    params_max_bytes: int = Field(default=8 * 1024, ge=16)
    """Largest command ``params`` (as compact JSON) sent to a device."""
    max_timeout_ms: int = Field(default=DEFAULT_MAX_TIMEOUT_MS, ge=100)
    """Longest a client may ask petit to wait for a device's reply."""
    timeout_margin_s: float = Field(default=2.0, ge=0)
    """Extra wait past a command's timeout for ThingsBoard to report it, before petit gives up itself."""
    settings_max_bytes: int = Field(default=16 * 1024, ge=64)
    """Largest set of device settings (as compact JSON) a device may hold."""


class OwnershipSettings(_Group):
    """Limits shared by every flow that makes a device someone's (pairing, claiming, provisioning)."""

    pairing_ttl_s: int = Field(default=10 * 60, ge=30, le=24 * 3600)
    """How long a started pairing waits for its device before it expires (its reserved device is deleted)."""
    claim_code_ttl_s: int = Field(default=10 * 60, ge=30, le=24 * 3600)
    """Lifetime of a claim code."""
    attempt_window_s: int = Field(default=15 * 60, ge=1)
    """Length of the attempt-counting window."""
    max_attempts_per_user: int = Field(default=60, ge=1)
    """Attempts (right or wrong) per user per window before 429."""
    max_attempts_per_ip: int = Field(default=120, ge=1)
    """Attempts per client IP per window before 429."""
    max_failures_per_user: int = Field(default=10, ge=1)
    """Wrong secrets per user per window before lockout."""
    max_failures_per_device: int = Field(default=5, ge=1)
    """Wrong secrets per (device, client) per window before that client, and only it, is locked out of the
    device. The client is the signed-in user, else the address and the secret it presented."""
    max_failures_per_ip: int = Field(default=20, ge=1)
    """Wrong secrets per client IP per window before its further *wrong* secrets answer 429; a right secret
    from the same address (a neighbour behind the same NAT) still works."""
    delay_after_failures: int = Field(default=5, ge=1)
    """Wrong secrets for one device, from anyone, before clients that have failed on it must wait between
    tries (doubling from ``delay_base_s`` up to ``delay_max_s``); clients that have not failed never wait."""
    delay_base_s: float = Field(default=1.0, gt=0)
    delay_max_s: float = Field(default=60.0, gt=0)
    lockout_s: int = Field(default=15 * 60, ge=1)
    """How long a locked-out user or (device, client) pair must wait."""
    pairing_watch_interval_s: float = Field(default=1.0, gt=0, le=60)
    """How often each petit process checks pending pairings for their device's pair key."""
    intent_grace_s: float = Field(default=30.0, ge=1, le=3600)
    """Age at which an unfinished device step (its request must be over by then) is undone by the sweeper."""
    intent_sweep_interval_s: float = Field(default=10.0, gt=0, le=600)
    """How often each petit process looks for unfinished device steps to undo."""


class SharingSettings(_Group):
    """Sharing a device with other users and handing it to a new owner."""

    max_users_per_device: int = Field(default=20, ge=1, le=1000)
    """Users with access to one device, the owner and pending invitations included."""
    invitation_ttl_s: int = Field(default=7 * 24 * 3600, ge=60, le=90 * 24 * 3600)
    """How long an invitation waits for its invitee (who may not have an account yet) before it lapses."""
    transfer_ttl_s: int = Field(default=10 * 60, ge=30, le=7 * 24 * 3600)
    """How long an ownership transfer offer waits for the recipient to accept."""


class ProvisioningSettings(_Group):
    device_key: OptionalStr = None
    """Provision key devices of the self-provisioning profile hold (seed 001). Unset: that flow is off."""
    device_secret: OptionalSecret = None
    """Provision secret paired with ``device_key``; required when the key is set."""
    profile_name: str = "petit-provisioning"
    """ThingsBoard device profile self-provisioned devices get; petit sets its provisioning config."""
    debug_endpoint: bool = False
    """Serve the seed's unauthenticated ``GET /debug/provisioning``. Off by default; warns when on."""
    reprovision_window_s: int = Field(default=30 * 60, ge=60)
    """How long an owner's approval to re-provision a factory-reset device stays usable."""
    token_lifetime_min: int = Field(default=30, ge=1)
    """Default lifetime of a gateway provisioning token (seed 004) when the owner names none."""
    token_max_lifetime_min: int = Field(default=DEFAULT_TOKEN_MAX_LIFETIME_MIN, ge=1)
    """Longest lifetime an owner may ask for; a token that never expires must be asked for explicitly."""

    @model_validator(mode="after")
    def _secret_with_key(self) -> ProvisioningSettings:
        if bool(self.device_key) != bool(self.device_secret):
            raise ValueError("PETIT_PROVISIONING__DEVICE_KEY and __DEVICE_SECRET go together")
        return self


class LogSettings(_Group):
    level: str = "INFO"
    """Root log level."""


class Settings(BaseSettings):
    """All of petit's configuration. Build it once (``Settings()``) and hand it to ``create_app``."""

    model_config = SettingsConfigDict(
        env_prefix="PETIT_", env_nested_delimiter="__", extra="forbid", frozen=True, env_file=None
    )

    environment: Environment = Environment.PRODUCTION
    """``development`` | ``test`` | ``production``. Defaults to production so that a forgotten setting fails
    closed (the placeholder JWT secret is refused)."""
    app: AppSettings = AppSettings()
    server: ServerSettings = ServerSettings()
    db: DatabaseSettings = DatabaseSettings()
    redis: RedisSettings = RedisSettings()
    thingsboard: ThingsBoardSettings = ThingsBoardSettings()
    auth: AuthSettings = AuthSettings()
    log: LogSettings = LogSettings()
    telemetry: TelemetrySettings = TelemetrySettings()
    commands: CommandSettings = CommandSettings()
    provisioning: ProvisioningSettings = ProvisioningSettings()
    ownership: OwnershipSettings = OwnershipSettings()
    sharing: SharingSettings = SharingSettings()

    @model_validator(mode="after")
    def _refuse_placeholder_secret(self) -> Settings:
        if self.environment is Environment.DEVELOPMENT:
            return self
        secret = self.auth.jwt_secret.get_secret_value()
        if secret.strip().lower() in _PLACEHOLDER_SECRETS or len(secret) < _MIN_SECRET_LENGTH:
            raise ValueError(
                f"PETIT_AUTH__JWT_SECRET is unset, a placeholder or shorter than {_MIN_SECRET_LENGTH} chars; "
                f"petit refuses to start in {self.environment.value} without a real secret"
            )
        return self


def env_variable_names() -> set[str]:
    """Every environment variable Settings reads (``PETIT_DB__URL``, ...)."""
    names: set[str] = set()
    for name, field in Settings.model_fields.items():
        group = field.annotation
        if isinstance(group, type) and issubclass(group, BaseModel):
            names.update(f"PETIT_{name.upper()}__{key.upper()}" for key in group.model_fields)
        else:
            names.add(f"PETIT_{name.upper()}")
    return names
