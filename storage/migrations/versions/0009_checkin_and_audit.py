"""the users' language and coverage that means 不漏一户 (issues 12, 15) and a
tamper-evident audit log (issue 14):

- the running tally of a check-in confirmation (1栋：2/2 已报；幸福社区：4/6) counts a
  round's units and current reports of one building and community by index alone:
  an index on checkinroundunit (round_id, community_id, building_id), and the unit's
  building and community copied onto checkinreport with a partial index;
- the commands held back for /确认 (pendingask) and how often each account uses each
  command, for /帮助 (commanduse);
- households not screened for a reason in a report: 空置 (vacant), 外出 (away),
  拒访 (refused);
- units reopened in a round, /排查 重排 (checkinrescreen), and spot checks, /抽查
  /核实 (spotcheck);
- the audit log's structured fields and hash chain (storage.auditchain; existing rows
  are chained in id order) and its verified heads (auditcheckpoint). The chain's
  canonical form must never change, so this migration uses the module's row_hash.

Revision ID: 0009_checkin_and_audit
Revises: 0008_lookups
Create Date: 2026-12-01 15:00:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

from storage.auditchain import GENESIS, row_hash

revision = "0009_checkin_and_audit"
down_revision = "0008_lookups"
branch_labels = None
depends_on = None

EXEMPT_COLUMNS = ("vacant", "away", "refused")


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
        ["round_id", "community_id", "building_id"], sqlite_where=sa.text("is_current = 1"), postgresql_where=sa.text("is_current"),
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
    with op.batch_alter_table("checkinreport") as batch_op:
        for name in EXEMPT_COLUMNS:
            batch_op.add_column(
                sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
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
    op.drop_index("ix_spotcheck_round_id", table_name="spotcheck")
    op.drop_table("spotcheck")
    op.drop_index("ix_checkinrescreen_round_id", table_name="checkinrescreen")
    op.drop_table("checkinrescreen")
    with op.batch_alter_table("checkinreport") as batch_op:
        for name in EXEMPT_COLUMNS:
            batch_op.drop_column(name)
    op.drop_table("commanduse")
    op.drop_table("pendingask")
    op.drop_index("ix_checkinreport_current_place", table_name="checkinreport")
    with op.batch_alter_table("checkinreport") as batch_op:
        batch_op.drop_column("community_id")
        batch_op.drop_column("building_id")
    op.drop_index("ix_checkinroundunit_community", table_name="checkinroundunit")
