"""The one error type the reference client raises for an answer petit (or a device) refused."""

from __future__ import annotations

from typing import Any


class ProblemError(Exception):
    """An RFC 9457 problem answer: ``code`` is stable and machine-readable, ``title`` is for people."""

    def __init__(  # noqa: PLR0917 - mirrors the ProblemDetail schema
        self,
        status: int,
        code: str,
        title: str,
        detail: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(f"{status} {code}: {title}" + (f" ({detail})" if detail else ""))
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.errors = errors or []
        self.body = body

    @classmethod
    def from_response(cls, status: int, body: Any, fallback_title: str) -> ProblemError:
        if isinstance(body, dict):
            # petit speaks ProblemDetail; the device-local API answers {"error": CODE, "message": ...}.
            code = str(body.get("code") or body.get("error") or f"http_{status}")
            title = str(body.get("title") or body.get("message") or fallback_title)
            detail = body.get("detail")
            errors = body.get("errors") if isinstance(body.get("errors"), list) else None
            return cls(status, code, title, str(detail) if detail is not None else None, errors, body)
        return cls(status, f"http_{status}", fallback_title, None, None, body)
