from __future__ import annotations

import pytest
from litestar.datastructures import State
from sqlalchemy.ext.asyncio import create_async_engine

from petit.db.deps import request_sessionmaker
from petit.db.engine import READ_ONLY_OPTION, create_sessionmaker

pytestmark = pytest.mark.unit


async def test_writing_methods_get_the_write_flavour_and_the_rest_the_read_one() -> None:
    # Creating an engine connects to nothing.
    engine = create_async_engine("sqlite+aiosqlite://")
    state = State({"engine": engine, "sessionmaker": create_sessionmaker(engine)})
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert request_sessionmaker(state, method) is state.sessionmaker
    read = request_sessionmaker(state, "GET")
    assert read.kw["bind"].get_execution_options()[READ_ONLY_OPTION] is True
    assert request_sessionmaker(state, "HEAD") is read
    assert request_sessionmaker(state, None) is read

    # A new lifespan brings a new engine: the read flavour follows it.
    state.engine = create_async_engine("sqlite+aiosqlite://")
    assert request_sessionmaker(state, "GET").kw["bind"].sync_engine.url == state.engine.url
    assert request_sessionmaker(state, "GET") is not read
    await engine.dispose()
    await state.engine.dispose()
