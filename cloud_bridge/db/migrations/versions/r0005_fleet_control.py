"""Fleet control: pushed configurations, station fleet reports, rollouts and their stations.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27

New tables only, so SQLite and PostgreSQL take the same DDL. Enums are strings with a named
CHECK, as elsewhere; ``group`` is quoted by SQLAlchemy on both, since GROUP is a reserved word.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INSTANT = sa.DateTime(timezone=True)


def _string_enum(name: str, *values: str) -> sa.Enum:
    """A string column limited to ``values`` by a CHECK, the same on SQLite and PostgreSQL."""
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def upgrade() -> None:
    _configs()
    _reports()
    _rollouts()


def _configs() -> None:
    op.create_table(
        "fleet_configs",
        sa.Column("version", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("scope", _string_enum("config_scope", "station", "group"), nullable=False),
        sa.Column("target", sa.String(length=128), nullable=False),
        sa.Column("settings", sa.Text(), nullable=False),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_fleet_configs")),
    )
    op.create_index(
        "ix_fleet_configs_target", "fleet_configs", ["scope", "target", "version"], unique=False
    )
    op.create_table(
        "fleet_config_published",
        sa.Column("station_id", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("published_at", INSTANT, nullable=False),
        sa.PrimaryKeyConstraint("station_id", name=op.f("pk_fleet_config_published")),
    )


def _reports() -> None:
    op.create_table(
        "fleet_station_reports",
        sa.Column("station_id", sa.String(length=128), nullable=False),
        sa.Column("report_at", INSTANT, nullable=False),
        sa.Column("update_state", sa.String(length=32), nullable=False),
        sa.Column("running_version", sa.String(length=64), nullable=False),
        sa.Column("previous_version", sa.String(length=64), nullable=True),
        sa.Column("target_version", sa.String(length=64), nullable=True),
        sa.Column("rollout_id", sa.String(length=64), nullable=True),
        sa.Column("refusal", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("update_at", INSTANT, nullable=False),
        sa.Column("config_applied_version", sa.Integer(), nullable=False),
        sa.Column("config_refused_version", sa.Integer(), nullable=True),
        sa.Column("config_refused_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("station_id", name=op.f("pk_fleet_station_reports")),
    )


def _rollouts() -> None:
    op.create_table(
        "fleet_rollouts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("group", sa.String(length=64), nullable=False),
        sa.Column(
            "state",
            _string_enum(
                "rollout_state", "running", "paused", "finished", "aborted", "rolled_back"
            ),
            nullable=False,
        ),
        sa.Column("state_reason", sa.Text(), nullable=False),
        sa.Column("state_at", INSTANT, nullable=False),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.Column("canaries", sa.Integer(), nullable=False),
        sa.Column("base_rate", sa.Integer(), nullable=False),
        sa.Column("increment_factor", sa.Float(), nullable=False),
        sa.Column("abort_percent", sa.Float(), nullable=False),
        sa.Column("min_sample", sa.Integer(), nullable=False),
        sa.Column("station_timeout_s", sa.Integer(), nullable=False),
        sa.Column("health_deadline_s", sa.Integer(), nullable=False),
        sa.Column("current_wave", sa.Integer(), nullable=True),
        sa.CheckConstraint("canaries >= 0", name=op.f("ck_fleet_rollouts_canaries_not_negative")),
        sa.CheckConstraint("base_rate >= 1", name=op.f("ck_fleet_rollouts_base_rate_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fleet_rollouts")),
    )
    op.create_index(op.f("ix_fleet_rollouts_group"), "fleet_rollouts", ["group"], unique=False)
    op.create_table(
        "fleet_rollout_stations",
        sa.Column("rollout_id", sa.Integer(), nullable=False),
        sa.Column("station_id", sa.String(length=128), nullable=False),
        sa.Column("wave", sa.Integer(), nullable=True),
        sa.Column(
            "state",
            _string_enum(
                "rollout_station_state",
                "waiting",
                "offered",
                "started",
                "committed",
                "failed",
                "timed_out",
                "withdrawn",
                "already",
                "reverting",
                "reverted",
            ),
            nullable=False,
        ),
        sa.Column("state_at", INSTANT, nullable=False),
        sa.Column("offered_at", INSTANT, nullable=True),
        sa.Column("online_s", sa.Float(), nullable=False),
        sa.Column("clock_at", INSTANT, nullable=True),
        sa.Column("report_at", INSTANT, nullable=True),
        sa.Column("update_state", sa.String(length=32), nullable=True),
        sa.Column("refusal", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["rollout_id"],
            ["fleet_rollouts.id"],
            name=op.f("fk_fleet_rollout_stations_rollout_id_fleet_rollouts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("rollout_id", "station_id", name=op.f("pk_fleet_rollout_stations")),
    )
    op.create_index(
        op.f("ix_fleet_rollout_stations_station_id"),
        "fleet_rollout_stations",
        ["station_id"],
        unique=False,
    )
    op.create_table(
        "fleet_rollout_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("rollout_id", sa.Integer(), nullable=False),
        sa.Column("at", INSTANT, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("station_id", sa.String(length=128), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["rollout_id"],
            ["fleet_rollouts.id"],
            name=op.f("fk_fleet_rollout_events_rollout_id_fleet_rollouts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fleet_rollout_events")),
    )
    op.create_index(
        op.f("ix_fleet_rollout_events_rollout_id"),
        "fleet_rollout_events",
        ["rollout_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_fleet_rollout_events_rollout_id"), table_name="fleet_rollout_events")
    op.drop_table("fleet_rollout_events")
    op.drop_index(op.f("ix_fleet_rollout_stations_station_id"), table_name="fleet_rollout_stations")
    op.drop_table("fleet_rollout_stations")
    op.drop_index(op.f("ix_fleet_rollouts_group"), table_name="fleet_rollouts")
    op.drop_table("fleet_rollouts")
    op.drop_table("fleet_station_reports")
    op.drop_table("fleet_config_published")
    op.drop_index("ix_fleet_configs_target", table_name="fleet_configs")
    op.drop_table("fleet_configs")
