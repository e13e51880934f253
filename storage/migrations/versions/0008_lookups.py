"""lookups made on every command: a directory version bumped by triggers on the
directory tables, and an index on building.number (/打卡 finds "3栋2单元" by it)

Revision ID: 0008_lookups
Revises: 0007_merge
Create Date: 2026-12-01 11:20:00
"""
from alembic import op
import sqlalchemy as sa

revision = "0008_lookups"
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
    if op.get_bind().dialect.name == "postgresql":
        # One function, one statement-level trigger per table (PostgreSQL's form).
        op.execute(
            "CREATE FUNCTION directory_bump() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN UPDATE directoryversion SET n = n + 1 WHERE id = 1; RETURN NULL; END $$"
        )
        for table in TABLES:
            op.execute(
                f"CREATE TRIGGER directory_{table} AFTER INSERT OR UPDATE OR DELETE "
                f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION directory_bump()"
            )
    else:
        for table in TABLES:
            for ev in EVENTS:
                op.execute(
                    f"CREATE TRIGGER directory_{table}_{ev.lower()} AFTER {ev} ON {table} "
                    "BEGIN UPDATE directoryversion SET n = n + 1 WHERE id = 1; END"
                )
    op.create_index("ix_building_number", "building", ["number"])


def downgrade() -> None:
    op.drop_index("ix_building_number", table_name="building")
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS directory_{table} ON {table}")
        op.execute("DROP FUNCTION IF EXISTS directory_bump()")
    else:
        for table in TABLES:
            for ev in EVENTS:
                op.execute(f"DROP TRIGGER IF EXISTS directory_{table}_{ev.lower()}")
    op.drop_table("directoryversion")
