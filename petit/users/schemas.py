import uuid
from datetime import datetime

from pydantic import field_validator

from petit.lib.clock import as_utc
from petit.lib.schema import CamelModel


class UserRead(CamelModel):
    id: uuid.UUID
    email: str
    created_at: datetime

    @field_validator("created_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return as_utc(value)
