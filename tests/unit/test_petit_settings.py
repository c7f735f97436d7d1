"""Settings: the documented keys are exactly the real ones, and unsafe secrets are refused."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest
from pydantic import ValidationError

from petit.settings import DEV_JWT_SECRET, Environment, Settings, env_variable_names

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
ENV_EXAMPLE = ROOT / ".env.example"


def documented_names() -> set[str]:
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    return {line.split("=", 1)[0].strip() for line in lines if line.strip() and not line.startswith("#")}


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The machine's own PETIT_* variables must not leak into what these tests parse.
    for key in [k for k in os.environ if k.startswith("PETIT_")]:
        monkeypatch.delenv(key)


def test_env_example_documents_every_setting_and_nothing_else() -> None:
    assert documented_names() == env_variable_names()
    assert "PETIT_AUTH__JWT_SECRET" in env_variable_names()


def test_env_example_loads_into_settings() -> None:
    settings = Settings(_env_file=ENV_EXAMPLE)  # type: ignore[call-arg]
    assert settings.environment is Environment.DEVELOPMENT
    assert settings.redis.url is None  # blank means unset
    assert settings.thingsboard.url is None
    assert settings.auth.access_token_ttl_s == 15 * 60


def test_unknown_petit_variable_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PETIT_ENVIRONMENT", "development")
    monkeypatch.setenv("PETIT_DB__URLL", "typo")
    with pytest.raises(ValidationError):
        Settings()


def test_nested_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = secrets.token_urlsafe(32)
    monkeypatch.setenv("PETIT_ENVIRONMENT", "production")
    monkeypatch.setenv("PETIT_AUTH__JWT_SECRET", secret)
    monkeypatch.setenv("PETIT_DB__URL", "postgresql+asyncpg://petit@db/petit")
    monkeypatch.setenv("PETIT_REDIS__URL", "redis://redis:6379/0")
    settings = Settings()
    assert settings.auth.jwt_secret.get_secret_value() == secret
    assert settings.db.url.startswith("postgresql+asyncpg://")
    assert settings.redis.url == "redis://redis:6379/0"
    assert secret not in repr(settings)


def test_default_environment_is_production_and_refuses_the_placeholder() -> None:
    with pytest.raises(ValidationError, match="JWT_SECRET"):
        Settings()


@pytest.mark.parametrize("environment", [Environment.PRODUCTION, Environment.TEST])
@pytest.mark.parametrize("secret", [DEV_JWT_SECRET, "changeme", "secret", "", "short-but-real-9f3a"])
def test_placeholder_or_short_secret_refused_outside_development(
    environment: Environment, secret: str
) -> None:
    with pytest.raises(ValidationError, match="JWT_SECRET"):
        Settings(environment=environment, auth={"jwt_secret": secret})  # type: ignore[arg-type]


def test_development_accepts_the_default_secret() -> None:
    settings = Settings(environment=Environment.DEVELOPMENT)
    assert settings.auth.jwt_secret.get_secret_value() == DEV_JWT_SECRET


def test_production_accepts_a_real_secret() -> None:
    settings = Settings(environment=Environment.PRODUCTION, auth={"jwt_secret": secrets.token_urlsafe(32)})  # type: ignore[arg-type]
    assert settings.environment is Environment.PRODUCTION
