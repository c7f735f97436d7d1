"""Owners: one ThingsBoard customer and its single customer user per petit user."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tb_rest_client.models.models_ce import Customer as TbCustomer
from tb_rest_client.models.models_ce import User
from tb_rest_client.rest import ApiException

from petit.thingsboard import mapping
from petit.thingsboard.errors import ThingsBoardNotFoundError
from petit.thingsboard.models import OwnerAccount, StreamAccess
from petit.thingsboard.transport import Endpoints, checked, customer_ref

if TYPE_CHECKING:
    from uuid import UUID

    from tb_rest_client.rest_client_ce import RestClientCE


class OwnerEndpoints(Endpoints):
    def _find_customer(self, rc: RestClientCE, title: str) -> Any | None:
        try:
            return rc.get_tenant_customer(title)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def _find_user(self, rc: RestClientCE, customer: Any, email: str) -> Any | None:
        page = checked(rc.get_customer_users(customer.id, page_size=100, page=0))
        wanted = email.strip().lower()
        return next((u for u in page.data or [] if (u.email or "").lower() == wanted), None)

    def _customer_title(self, email: str) -> str:
        return mapping.customer_title(self._transport.config.customer_title_prefix, email)

    def _ensure_owner(self, rc: RestClientCE, email: str) -> OwnerAccount:
        title = self._customer_title(email)
        customer = self._find_customer(rc, title)
        if customer is None:
            try:
                customer = rc.save_customer(TbCustomer(title=title))
            except ApiException as exc:
                # Another worker created it between our lookup and our create: use theirs.
                customer = self._find_customer(rc, title)
                if customer is None:
                    raise exc from None
        customer = checked(customer)
        user = self._find_user(rc, customer, email)
        if user is None:
            new_user = User(
                email=email.strip().lower(),
                authority="CUSTOMER_USER",
                customer_id=customer_ref(mapping.entity_uuid(customer.id)),  # type: ignore[arg-type]
                first_name=None,
            )
            try:
                user = rc.save_user(new_user, send_activation_mail=False)
            except ApiException:
                user = self._find_user(rc, customer, email)
                if user is None:
                    raise
        return mapping.owner_from_tb(customer, checked(user))

    async def ensure_owner(self, email: str) -> OwnerAccount:
        # Idempotent by construction (find by title/email first), so a retry cannot make a second customer.
        return await self._transport.call(lambda rc: self._ensure_owner(rc, email), idempotent=True)

    def _lookup_owner(self, rc: RestClientCE, email: str) -> OwnerAccount | None:
        customer = self._find_customer(rc, self._customer_title(email))
        if customer is None:
            return None
        user = self._find_user(rc, customer, email)
        return None if user is None else mapping.owner_from_tb(customer, user)

    async def find_owner(self, email: str) -> OwnerAccount | None:
        return await self._transport.call(lambda rc: self._lookup_owner(rc, email), idempotent=True)

    async def delete_owner(self, owner_id: UUID) -> None:
        try:
            await self._transport.call(lambda rc: rc.delete_customer(customer_ref(owner_id)), idempotent=True)
        except ThingsBoardNotFoundError:
            return

    async def stream_access(self, account_id: UUID) -> StreamAccess:
        pair = await self._transport.user_pair(account_id)
        return StreamAccess(
            token=pair.access, expires_at=pair.access_exp, ws_url=mapping.ws_url(self._transport.base_url)
        )


__all__ = ["OwnerEndpoints"]
