from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from alembic.autogenerate import render_python_code
from alembic.operations import ops
from sqlalchemy.dialects import postgresql, sqlite

from petit.db.types import UTCDateTime, render_alembic_type

pytestmark = pytest.mark.unit

PARIS = timezone(timedelta(hours=2))
#: What SQLite's driver hands back: the digits, no zone.
NAIVE_NOON = datetime(2026, 1, 1, 12, 0, tzinfo=UTC).replace(tzinfo=None)


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect()], ids=["sqlite", "pg"])
def test_values_are_stored_as_utc(dialect: sa.Dialect) -> None:
    stored = UTCDateTime().process_bind_param(datetime(2026, 1, 1, 14, 0, tzinfo=PARIS), dialect)
    assert stored is not None
    assert stored.replace(tzinfo=None) == NAIVE_NOON
    assert stored.tzinfo in (None, UTC)


def test_a_naive_value_is_refused_rather_than_guessed() -> None:
    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().process_bind_param(NAIVE_NOON, sqlite.dialect())


@pytest.mark.parametrize(
    "raw", [NAIVE_NOON, datetime(2026, 1, 1, 14, 0, tzinfo=PARIS)], ids=["naive", "paris"]
)
def test_values_read_back_are_aware_utc(raw: datetime) -> None:
    value = UTCDateTime().process_result_value(raw, sqlite.dialect())
    assert value == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert value is not None
    assert value.tzinfo is UTC


def test_migrations_spell_the_type_without_importing_petit() -> None:
    table = sa.Table("t", sa.MetaData(), sa.Column("at", UTCDateTime(), nullable=False))
    code = render_python_code(
        ops.UpgradeOps(ops=[ops.CreateTableOp.from_table(table)]), render_item=render_alembic_type
    )
    assert "sa.Column('at', sa.DateTime(timezone=True), nullable=False)" in code
    assert "petit" not in code
