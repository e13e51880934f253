"""directory version: one counter row bumped by triggers on the directory tables

Revision ID: 0008_directory_version
Revises: 0007_merge
Create Date: 2026-12-01 11:20:00
"""
from alembic import op
import sqlalchemy as sa

revision = "0008_directory_version"
down_revision = "0007_merge"
branch_labels = None
depends_on = None

# Who is who and which group is which: storage.directory keeps these in memory.
TABLES = ("chatgroup", "account", "person", "rolegrant", "teammember")
EVENTS = ("INSERT", "UPDATE", "DELETE")


def upgrade() -> None:
    op.create_table(
        "directoryversion",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute("INSERT INTO directoryversion (id, n) VALUES (1, 0)")
    for table in TABLES:
        for ev in EVENTS:
            op.execute(
                f"CREATE TRIGGER directory_{table}_{ev.lower()} AFTER {ev} ON {table} "
                "BEGIN UPDATE directoryversion SET n = n + 1 WHERE id = 1; END"
            )


def downgrade() -> None:
    for table in TABLES:
        for ev in EVENTS:
            op.execute(f"DROP TRIGGER IF EXISTS directory_{table}_{ev.lower()}")
    op.drop_table("directoryversion")
