"""units reopened in a round (/排查 重排): checkinrescreen; spot checks of reported
units (/抽查, /核实): spotcheck

Revision ID: 0011_rescreen
Revises: 0010_exempt_households
Create Date: 2026-12-01 14:50:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

revision = "0011_rescreen"
down_revision = "0010_exempt_households"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "checkinrescreen",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("after_report_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("by", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["round_id"], ["checkinround.id"]),
        sa.ForeignKeyConstraint(["unit_id"], ["unit.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_checkinrescreen_round_id", "checkinrescreen", ["round_id"])
    op.create_table(
        "spotcheck",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("checker", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("asked_by", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("asked_at", sa.DateTime(), nullable=False),
        sa.Column("verdict", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["round_id"], ["checkinround.id"]),
        sa.ForeignKeyConstraint(["unit_id"], ["unit.id"]),
        sa.ForeignKeyConstraint(["report_id"], ["checkinreport.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_spotcheck_round_id", "spotcheck", ["round_id"])


def downgrade() -> None:
    op.drop_index("ix_spotcheck_round_id", table_name="spotcheck")
    op.drop_table("spotcheck")
    op.drop_index("ix_checkinrescreen_round_id", table_name="checkinrescreen")
    op.drop_table("checkinrescreen")
