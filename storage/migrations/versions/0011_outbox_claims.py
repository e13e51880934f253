"""several processes on one database (issue 16): an outbox row records which
process claimed it (``claimed_by``, the holder of that process's ``outbox:`` lease),
so a process that dies leaves rows the others can tell apart from their own.

Revision ID: 0011_outbox_claims
Revises: 0010_console
Create Date: 2026-12-01 20:00:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

revision = "0011_outbox_claims"
down_revision = "0010_console"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outboxitem") as batch_op:
        batch_op.add_column(sa.Column("claimed_by", sqlmodel.sql.sqltypes.AutoString(),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outboxitem") as batch_op:
        batch_op.drop_column("claimed_by")
