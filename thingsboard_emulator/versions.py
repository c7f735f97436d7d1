"""Which ThingsBoard CE release the emulator behaves like, and what that changes.

Each flag is one difference between CE 4.3 (4.3.1.3) and CE 4.4 that a client can observe; the README's
"4.3 and 4.4" section lists them with the ThingsBoard source each one was read from.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_VERSION = "4.3"


@dataclass(frozen=True, slots=True)
class TbBehaviour:
    version: str
    #: The release this behaviour was read from (the Docker tag compose.yaml would use).
    release: str
    #: A device session's CLOSED event counts as device activity (4.3). 4.4 stopped this, so a disconnect no
    #: longer moves ``lastActivityTime`` nor turns an inactive device active again.
    activity_on_disconnect: bool
    #: ``authCmd`` on ``/api/ws`` has an ``apiKey`` field (4.4). On 4.3 the field is unknown to Jackson and
    #: the whole message fails to parse.
    ws_auth_api_key: bool
    #: ``?token=`` on a WebSocket URL is read as one query parameter (4.4). 4.3 takes everything after the
    #: first ``token=`` in the query, so ``?token=JWT&x=1`` authenticates with ``JWT&x=1`` and fails.
    ws_token_query_param: bool


VERSIONS: dict[str, TbBehaviour] = {
    "4.3": TbBehaviour(
        version="4.3",
        release="4.3.1.3",
        activity_on_disconnect=True,
        ws_auth_api_key=False,
        ws_token_query_param=False,
    ),
    "4.4": TbBehaviour(
        version="4.4",
        release="4.4.0.2",
        activity_on_disconnect=False,
        ws_auth_api_key=True,
        ws_token_query_param=True,
    ),
}


def behaviour(version: str) -> TbBehaviour:
    try:
        return VERSIONS[version]
    except KeyError:
        supported = ", ".join(sorted(VERSIONS))
        raise ValueError(f"unsupported ThingsBoard version {version!r}; choose one of {supported}") from None


__all__ = ["DEFAULT_VERSION", "VERSIONS", "TbBehaviour", "behaviour"]
