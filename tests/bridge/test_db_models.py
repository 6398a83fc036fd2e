"""The bridge's schema refuses what the rules forbid, keeps money exact, and SQLite is tuned.

Constraint and money tests run on SQLite, and on PostgreSQL too when
PACKLINE_TEST_POSTGRES_URL names a server (in a private schema dropped afterwards).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select
from sqlalchemy.dialects.sqlite.base import SQLiteDialect
from sqlalchemy.exc import IntegrityError, OperationalError, StatementError
from sqlalchemy.orm import Session

from cloud_bridge.db.engine import (
    UnsupportedDatabaseError,
    for_update,
    make_engine,
    session_factory,
)
from cloud_bridge.db.migrate import upgrade
from cloud_bridge.db.models import (
    Account,
    AccountLink,
    Allocation,
    AllocationState,
    Debtor,
    Location,
    OrderLine,
    OrderState,
    Payment,
    Product,
    SalesOrder,
    StockItem,
)
from cloud_bridge.errors import BridgeError

POSTGRES_URL_VARIABLE = "PACKLINE_TEST_POSTGRES_URL"

money_amounts = st.decimals(
    min_value=Decimal("0.0001"),
    max_value=Decimal("99999999999.9999"),
    places=4,
    allow_nan=False,
    allow_infinity=False,
)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty bridge database on SQLite or PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'bridge.db'}"
    else:
        url = request.getfixturevalue("postgres_schema_url")
    engine = make_engine(url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'bridge.db'}", busy_timeout_ms=0)
    upgrade(engine)
    yield engine
    engine.dispose()


def add_and_commit(engine: Engine, *rows: object) -> None:
    with session_factory(engine).begin() as session:
        session.add_all(rows)


def an_order(order_no: str = "SO-1", **overrides: object) -> SalesOrder:
    fields: dict[str, object] = {
        "order_no": order_no,
        "account_id": "ACME",
        "invoice_debtor_no": "D-1",
        "deliver_to_name": "Ada Example",
        "deliver_to_line1": "1 Dock Road",
        "deliver_to_city": "Leeds",
        "deliver_to_postal_code": "LS1 1AA",
        "deliver_to_country": "GB",
        "carrier": "DPD",
    }
    fields.update(overrides)
    return SalesOrder(**fields)


@pytest.fixture
def stocked(engine: Engine) -> Engine:
    """Two accounts, a debtor, a product and a location: what most rows refer to."""
    add_and_commit(
        engine,
        Account(id="ACME", name="Acme Ltd"),
        Account(id="BETA", name="Beta Ltd"),
        Account(id="GAMMA", name="Gamma Ltd"),
        Debtor(debtor_no="D-1", name="Acme Ltd", credit_line=Decimal("1000.00")),
        Product(sku="SKU-1", gtin="4006381333931", unit_price=Decimal("2.50")),
        Location(id="A-01-01"),
    )
    return engine


def test_negative_stock_on_hand_is_refused(stocked: Engine) -> None:
    with pytest.raises(IntegrityError, match=r"(?i)on_hand"):
        add_and_commit(
            stocked, StockItem(account_id="ACME", sku="SKU-1", location_id="A-01-01", on_hand=-1)
        )


def test_zero_stock_on_hand_is_allowed(stocked: Engine) -> None:
    add_and_commit(
        stocked, StockItem(account_id="ACME", sku="SKU-1", location_id="A-01-01", on_hand=0)
    )

    with Session(stocked) as session:
        assert session.scalars(select(StockItem.on_hand)).one() == 0


def test_an_order_line_for_zero_units_is_refused(stocked: Engine) -> None:
    order = an_order()
    order.lines.append(OrderLine(line_id="L1", sku="SKU-1", quantity=0, unit_price=Decimal("2.50")))

    with pytest.raises(IntegrityError, match=r"(?i)quantity"):
        add_and_commit(stocked, order)


def test_a_line_cannot_ship_more_than_was_ordered(stocked: Engine) -> None:
    order = an_order()
    order.lines.append(
        OrderLine(line_id="L1", sku="SKU-1", quantity=2, shipped_quantity=3, unit_price=Decimal(1))
    )

    with pytest.raises(IntegrityError, match=r"(?i)shipped"):
        add_and_commit(stocked, order)


def test_an_account_cannot_be_linked_to_itself(stocked: Engine) -> None:
    with pytest.raises(IntegrityError, match=r"(?i)not_self"):
        add_and_commit(
            stocked, AccountLink(account_id="ACME", linked_account_id="ACME", position=0)
        )


def test_two_links_of_one_account_cannot_share_a_position(stocked: Engine) -> None:
    add_and_commit(stocked, AccountLink(account_id="ACME", linked_account_id="BETA", position=0))

    with pytest.raises(IntegrityError, match=r"(?i)position"):
        add_and_commit(
            stocked, AccountLink(account_id="ACME", linked_account_id="GAMMA", position=0)
        )


def test_links_load_in_the_order_they_are_tried(stocked: Engine) -> None:
    add_and_commit(
        stocked,
        AccountLink(account_id="ACME", linked_account_id="GAMMA", position=2),
        AccountLink(account_id="ACME", linked_account_id="BETA", position=1),
    )

    with Session(stocked) as session:
        acme = session.get_one(Account, "ACME")
        assert [link.linked_account_id for link in acme.links] == ["BETA", "GAMMA"]


def test_stock_for_an_unknown_account_is_refused_by_the_foreign_key(stocked: Engine) -> None:
    with pytest.raises(IntegrityError, match=r"(?i)foreign key"):
        add_and_commit(
            stocked, StockItem(account_id="NOBODY", sku="SKU-1", location_id="A-01-01", on_hand=1)
        )


def test_an_order_state_outside_the_list_is_refused_by_the_database(stocked: Engine) -> None:
    add_and_commit(stocked, an_order())

    with pytest.raises(IntegrityError, match=r"(?i)order_state"), stocked.begin() as connection:
        connection.execute(
            sa.text("UPDATE sales_orders SET state = 'teleported' WHERE order_no = 'SO-1'")
        )


def test_a_new_order_starts_new_at_version_one(stocked: Engine) -> None:
    add_and_commit(stocked, an_order())

    with Session(stocked) as session:
        order = session.get_one(SalesOrder, "SO-1")
        assert (order.state, order.version, order.amount_paid) == (
            OrderState.NEW,
            1,
            Decimal("0.0000"),
        )


def test_an_allocation_for_zero_units_is_refused(stocked: Engine) -> None:
    order = an_order()
    order.lines.append(OrderLine(line_id="L1", sku="SKU-1", quantity=1, unit_price=Decimal(1)))
    add_and_commit(stocked, order)

    with pytest.raises(IntegrityError, match=r"(?i)quantity"):
        add_and_commit(
            stocked,
            Allocation(
                order_no="SO-1", line_id="L1", sku="SKU-1", from_account_id="ACME", quantity=0
            ),
        )


def test_a_released_allocation_must_say_when_it_was_released(stocked: Engine) -> None:
    order = an_order()
    order.lines.append(OrderLine(line_id="L1", sku="SKU-1", quantity=1, unit_price=Decimal(1)))
    add_and_commit(stocked, order)

    with pytest.raises(IntegrityError, match=r"(?i)released_at"):
        add_and_commit(
            stocked,
            Allocation(
                order_no="SO-1",
                line_id="L1",
                sku="SKU-1",
                from_account_id="ACME",
                quantity=1,
                state=AllocationState.RELEASED,
            ),
        )


def test_no_credit_line_and_a_credit_line_of_zero_stay_different(stocked: Engine) -> None:
    add_and_commit(
        stocked,
        Debtor(debtor_no="D-UNLIMITED", name="No limit", credit_line=None),
        Debtor(debtor_no="D-ZERO", name="Zero limit", credit_line=Decimal(0)),
    )

    with Session(stocked) as session:
        assert session.get_one(Debtor, "D-UNLIMITED").credit_line is None
        assert session.get_one(Debtor, "D-ZERO").credit_line == Decimal("0.0000")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(amounts=st.lists(money_amounts, min_size=1, max_size=12))
def test_money_summed_in_sql_is_exactly_the_decimal_sum(
    stocked: Engine, amounts: list[Decimal]
) -> None:
    with stocked.connect() as connection, connection.begin() as transaction:
        session = Session(bind=connection)
        session.add_all(Payment(debtor_no="D-1", amount=amount) for amount in amounts)
        session.flush()

        stored = session.scalars(select(Payment.amount).order_by(Payment.id)).all()
        total = session.scalar(select(func.sum(Payment.amount)))

        assert stored == amounts
        assert total == sum(amounts, Decimal(0))
        transaction.rollback()


def test_money_at_a_limit_compares_exactly_in_sql(stocked: Engine) -> None:
    add_and_commit(
        stocked,
        Debtor(debtor_no="D-2", name="Exact", credit_line=Decimal("0.3000")),
        Payment(debtor_no="D-2", amount=Decimal("0.1")),
        Payment(debtor_no="D-2", amount=Decimal("0.2")),
    )

    with Session(stocked) as session:
        paid = select(func.sum(Payment.amount)).where(Payment.debtor_no == "D-2")
        within = session.scalar(
            select(Debtor.credit_line >= paid.scalar_subquery()).where(Debtor.debtor_no == "D-2")
        )

    assert bool(within)


def test_money_given_as_a_float_is_refused(stocked: Engine) -> None:
    with pytest.raises(StatementError) as refused:
        add_and_commit(stocked, Payment(debtor_no="D-1", amount=0.1))

    assert isinstance(refused.value.orig, TypeError)
    assert "expected a Decimal" in str(refused.value.orig)


def test_money_beyond_eighteen_digits_with_four_places_is_refused(stocked: Engine) -> None:
    with pytest.raises(StatementError) as refused:
        add_and_commit(stocked, Payment(debtor_no="D-1", amount=Decimal("100000000000000")))

    assert isinstance(refused.value.orig, ValueError)
    assert "out of range" in str(refused.value.orig)


def test_instants_come_back_as_the_same_moment_in_utc(stocked: Engine) -> None:
    in_paris = datetime(2025, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=1)))
    add_and_commit(stocked, an_order(created_at=in_paris, promised_date=date(2025, 3, 3)))

    with Session(stocked) as session:
        created = session.get_one(SalesOrder, "SO-1").created_at

    assert created == in_paris
    assert created.tzinfo == UTC


def test_a_naive_datetime_is_refused(stocked: Engine) -> None:
    with pytest.raises(StatementError) as refused:
        add_and_commit(stocked, an_order(created_at=datetime(2025, 3, 1, 9, 30)))

    assert "naive" in str(refused.value.orig)


def test_objects_stay_readable_after_their_session_commits_and_closes(stocked: Engine) -> None:
    with session_factory(stocked)() as session:
        account = session.get_one(Account, "ACME")
        account.name = "Acme Holdings"
        session.commit()

    assert account.name == "Acme Holdings"


def test_sqlite_connections_use_wal_normal_sync_and_foreign_keys(sqlite_engine: Engine) -> None:
    for _ in range(2):
        with sqlite_engine.connect() as connection:
            pragma = connection.exec_driver_sql
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA synchronous").scalar() == 1
            assert pragma("PRAGMA foreign_keys").scalar() == 1
        sqlite_engine.dispose()


def test_sqlite_second_writer_cannot_begin_while_the_first_holds_the_lock(
    sqlite_engine: Engine,
) -> None:
    with sqlite_engine.connect() as first, sqlite_engine.connect() as second:
        first.begin()
        with pytest.raises(OperationalError, match="locked"):
            second.begin()
        first.rollback()
        second.begin()
        second.rollback()


def test_sqlite_transactions_are_atomic_across_statements(sqlite_engine: Engine) -> None:
    def insert_the_same_location_twice() -> None:
        with sqlite_engine.begin() as connection:
            connection.execute(sa.text("INSERT INTO locations (id) VALUES ('B-01')"))
            connection.execute(sa.text("INSERT INTO locations (id) VALUES ('B-01')"))

    with pytest.raises(IntegrityError):
        insert_the_same_location_twice()

    with sqlite_engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM locations")).scalar() == 0


def test_for_update_locks_rows_on_postgresql_and_leaves_sqlite_to_its_write_lock() -> None:
    statement = for_update(select(StockItem).where(StockItem.sku == "SKU-1"))
    postgresql = make_engine("postgresql://bridge@db.invalid/packline").dialect

    assert "FOR UPDATE" in str(statement.compile(dialect=postgresql))
    assert "FOR UPDATE" not in str(statement.compile(dialect=SQLiteDialect()))


def test_a_bare_postgresql_url_uses_the_psycopg_driver() -> None:
    engine = make_engine("postgresql://bridge@db.invalid/packline")

    assert engine.dialect.driver == "psycopg"


@pytest.mark.parametrize(
    "url", ["mysql://bridge@db.invalid/packline", "postgresql+asyncpg://db.invalid/packline"]
)
def test_an_unsupported_database_url_is_refused_naming_its_driver(url: str) -> None:
    with pytest.raises(UnsupportedDatabaseError, match=r"driver '.+' is not supported") as err:
        make_engine(url)

    assert isinstance(err.value, BridgeError)
    assert isinstance(err.value, ValueError)
