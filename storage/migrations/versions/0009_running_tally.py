"""the running tally of a check-in confirmation (1栋：2/2 已报；幸福社区：4/6) counts a
round's units and current reports of one building and community by index alone:
an index on checkinroundunit (round_id, community_id, building_id), and the unit's
building and community copied onto checkinreport with a partial index;
the commands held back for /确认 (pendingask); how often each account uses each
command, for /帮助 (commanduse)

Revision ID: 0009_running_tally
Revises: 0008_lookups
Create Date: 2026-12-01 14:10:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

revision = "0009_running_tally"
down_revision = "0008_lookups"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_checkinroundunit_community", "checkinroundunit",
        ["round_id", "community_id", "building_id"],
    )
    with op.batch_alter_table("checkinreport") as batch_op:
        batch_op.add_column(sa.Column("building_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("community_id", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE checkinreport SET "
        "building_id = (SELECT ru.building_id FROM checkinroundunit ru "
        "WHERE ru.round_id = checkinreport.round_id AND ru.unit_id = checkinreport.unit_id), "
        "community_id = (SELECT ru.community_id FROM checkinroundunit ru "
        "WHERE ru.round_id = checkinreport.round_id AND ru.unit_id = checkinreport.unit_id)"
    )
    op.create_index(
        "ix_checkinreport_current_place", "checkinreport",
        ["round_id", "community_id", "building_id"], sqlite_where=sa.text("is_current = 1"),
    )
    op.create_table(
        "pendingask",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("chat", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account", "chat", "kind", name="ux_pendingask_who"),
    )


    op.create_table(
        "commanduse",
        sa.Column("account", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("command", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("last_used", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("account", "command"),
    )


def downgrade() -> None:
    op.drop_table("commanduse")
    op.drop_table("pendingask")
    op.drop_index("ix_checkinreport_current_place", table_name="checkinreport")
    with op.batch_alter_table("checkinreport") as batch_op:
        batch_op.drop_column("community_id")
        batch_op.drop_column("building_id")
    op.drop_index("ix_checkinroundunit_community", table_name="checkinroundunit")
