from typing import Literal

from petit.lib.schema import CamelModel

CheckStatus = Literal["ok", "unavailable"]


class Liveness(CamelModel):
    status: Literal["ok"] = "ok"


class DependencyCheck(CamelModel):
    status: CheckStatus
    detail: str | None = None
    latency_ms: float | None = None


class Readiness(CamelModel):
    status: CheckStatus
    checks: dict[str, DependencyCheck]
