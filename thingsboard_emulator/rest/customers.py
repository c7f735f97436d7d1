"""Customers (reference §2.2)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar import Request, Response, delete, get, post
from litestar.params import FromPath  # noqa: TC002 - Litestar reads handler annotations at runtime

from thingsboard_emulator.core.errors import not_found
from thingsboard_emulator.core.model import Customer
from thingsboard_emulator.rest.common import (
    check_uuid,
    empty,
    json_object,
    json_response,
    page,
    principal,
    require,
)

if TYPE_CHECKING:
    from litestar.handlers import HTTPRouteHandler

    from thingsboard_emulator.core.service import Core

_SORT = {
    "createdTime": lambda c: c.created_time,
    "title": lambda c: c.title,
    "email": lambda c: c.details.get("email"),
    "country": lambda c: c.details.get("country"),
    "city": lambda c: c.details.get("city"),
}


def handlers(core: Core) -> list[HTTPRouteHandler]:
    @post("/api/customer")
    async def save_customer(request: Request[Any, Any, Any]) -> Response[bytes]:
        p = principal(core, request)
        require(p, "TENANT_ADMIN")
        return json_response(core.save_customer(p, await json_object(request)).to_json())

    @get("/api/customer/{customer_id:str}")
    async def get_customer(request: Request[Any, Any, Any], customer_id: FromPath[str]) -> Response[bytes]:
        p = principal(core, request)
        require(p, "TENANT_ADMIN", "CUSTOMER_USER")
        return json_response(core.check_entity(p, "CUSTOMER", check_uuid(customer_id)).to_json())

    @get("/api/customer/{customer_id:str}/shortInfo")
    async def customer_short_info(
        request: Request[Any, Any, Any], customer_id: FromPath[str]
    ) -> Response[bytes]:
        p = principal(core, request)
        customer: Customer = core.check_entity(p, "CUSTOMER", check_uuid(customer_id))
        return json_response({"title": customer.title, "isPublic": False})

    @get("/api/customer/{customer_id:str}/title", media_type="text/plain")
    async def customer_title(request: Request[Any, Any, Any], customer_id: FromPath[str]) -> Response[bytes]:
        p = principal(core, request)
        customer: Customer = core.check_entity(p, "CUSTOMER", check_uuid(customer_id))
        return Response(content=customer.title.encode(), media_type="text/plain")

    @get("/api/tenant/customers")
    async def customer_by_title(request: Request[Any, Any, Any]) -> Response[bytes]:
        p = principal(core, request)
        require(p, "TENANT_ADMIN")
        title = request.query_params.get("customerTitle") or ""
        customer = core.customer_by_title(p.tenant_id, title)
        if customer is None:
            raise not_found(f"Customer with title [{title}] is not found")
        return json_response(customer.to_json())

    @get("/api/customers")
    async def list_customers(request: Request[Any, Any, Any]) -> Response[bytes]:
        p = principal(core, request)
        require(p, "TENANT_ADMIN")
        rows = [c for c in core.customers.values() if c.tenant_id == p.tenant_id]
        return json_response(
            page(request, rows, text_of=lambda c: (c.title,), sort_keys=_SORT, render=Customer.to_json)
        )

    @delete("/api/customer/{customer_id:str}", status_code=200)
    async def delete_customer(request: Request[Any, Any, Any], customer_id: FromPath[str]) -> Response[bytes]:
        p = principal(core, request)
        require(p, "TENANT_ADMIN")
        core.delete_customer(p, check_uuid(customer_id))
        return empty()

    return [
        save_customer,
        get_customer,
        customer_short_info,
        customer_title,
        customer_by_title,
        list_customers,
        delete_customer,
    ]
