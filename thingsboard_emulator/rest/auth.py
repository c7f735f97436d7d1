"""``/api/auth/**`` and ``/api/noauth/activate`` (reference §1.1, §1.5)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from litestar import Request, Response, get, post, route

from thingsboard_emulator.core.auth import check_password, hash_password
from thingsboard_emulator.core.errors import bad_request, unauthorized
from thingsboard_emulator.rest.common import empty, json_object, json_response, principal, query_bool

if TYPE_CHECKING:
    from litestar.handlers import HTTPRouteHandler

    from thingsboard_emulator.core.service import Core


def handlers(core: Core) -> list[HTTPRouteHandler]:  # noqa: C901 - one closure per endpoint
    @post("/api/auth/login")
    async def login(request: Request[Any, Any, Any]) -> Response[bytes]:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError as exc:
            raise unauthorized("Authentication failed") from exc
        if not isinstance(body, dict):
            raise unauthorized("Authentication failed")
        return json_response(core.login(body.get("username"), body.get("password")))

    @route("/api/auth/login", http_method=["GET", "PUT", "DELETE", "PATCH"], status_code=401)
    async def login_wrong_method() -> Response[bytes]:
        raise unauthorized("Authentication method not supported")

    @post("/api/auth/token")
    async def refresh(request: Request[Any, Any, Any]) -> Response[bytes]:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError as exc:
            raise unauthorized("Authentication failed") from exc
        token = body.get("refreshToken") if isinstance(body, dict) else None
        return json_response(core.refresh(token))

    @get("/api/auth/user")
    async def auth_user(request: Request[Any, Any, Any]) -> Response[bytes]:
        p = principal(core, request)
        return json_response(core.users[p.user_id].to_json())

    @post("/api/auth/logout")
    async def logout(request: Request[Any, Any, Any]) -> Response[bytes]:
        principal(core, request)
        return empty()

    @post("/api/auth/changePassword")
    async def change_password(request: Request[Any, Any, Any]) -> Response[bytes]:
        p = principal(core, request)
        body = await json_object(request)
        user = core.users[p.user_id]
        if not check_password(str(body.get("currentPassword", "")), user.password_hash):
            raise bad_request("Current password doesn't match!")
        new = body.get("newPassword")
        if not isinstance(new, str) or len(new) < 6:
            raise bad_request("Password must be at least 6 characters long!")
        user.password_hash = hash_password(new)
        core.outdate_tokens(user)
        core.persist_user(user)
        return json_response(core.jwt.pair(user))

    @get("/api/noauth/activate")
    async def activate_redirect(request: Request[Any, Any, Any]) -> Response[bytes]:
        token = request.query_params.get("activateToken", "")
        known = any(u.activate_token == token for u in core.users.values()) if token else False
        if not known:
            return Response(content=b"", status_code=409)
        return Response(
            content=b"", status_code=303, headers={"Location": f"/login/createPassword?activateToken={token}"}
        )

    @post("/api/noauth/activate")
    async def activate(request: Request[Any, Any, Any]) -> Response[bytes]:
        query_bool(request, "sendActivationMail", default=True)
        body = await json_object(request)
        return json_response(core.activate(body.get("activateToken"), body.get("password")))

    return [
        login,
        login_wrong_method,
        refresh,
        auth_user,
        logout,
        change_password,
        activate_redirect,
        activate,
    ]
