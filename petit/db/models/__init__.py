"""Every table, importable from one place so Alembic and the mappers see them all."""

from petit.db.base import metadata
from petit.db.models.refresh_token import RefreshToken
from petit.db.models.user import User

__all__ = ("RefreshToken", "User", "metadata")
