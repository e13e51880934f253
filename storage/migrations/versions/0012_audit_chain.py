"""a tamper-evident audit log: structured fields (subject, scope) beside the text, and
each row's hash chained to the previous one (storage.auditchain); verified heads
(auditcheckpoint). Existing rows are chained in id order.

Revision ID: 0012_audit_chain
Revises: 0011_rescreen
Create Date: 2026-12-01 15:00:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

from storage.auditchain import GENESIS, row_hash

revision = "0012_audit_chain"
down_revision = "0011_rescreen"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("auditlog") as batch_op:
        batch_op.add_column(sa.Column("subject_kind", sqlmodel.sql.sqltypes.AutoString(),
                                      nullable=False, server_default=""))
        batch_op.add_column(sa.Column("subject_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("scope", sqlmodel.sql.sqltypes.AutoString(),
                                      nullable=False, server_default=""))
        batch_op.add_column(sa.Column("prev_hash", sqlmodel.sql.sqltypes.AutoString(),
                                      nullable=False, server_default=""))
        batch_op.add_column(sa.Column("hash", sqlmodel.sql.sqltypes.AutoString(),
                                      nullable=False, server_default=""))
    op.create_table(
        "auditcheckpoint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("last_id", sa.Integer(), nullable=False),
        sa.Column("head", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    conn = op.get_bind()
    prev = GENESIS
    rows = conn.execute(sa.text("SELECT id, at, actor, action, detail FROM auditlog ORDER BY id"))
    for rid, at, actor, action, detail in rows.fetchall():
        digest = row_hash(prev, at, actor, action, "", None, "", detail)
        conn.execute(sa.text("UPDATE auditlog SET prev_hash = :p, hash = :h WHERE id = :i"),
                     {"p": prev, "h": digest, "i": rid})
        prev = digest


def downgrade() -> None:
    op.drop_table("auditcheckpoint")
    with op.batch_alter_table("auditlog") as batch_op:
        for name in ("hash", "prev_hash", "scope", "subject_id", "subject_kind"):
            batch_op.drop_column(name)
