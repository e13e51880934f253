"""households not screened for a reason in a check-in report: 空置 (vacant), 外出
(away, reached by phone) and 拒访 (refused)

Revision ID: 0010_exempt_households
Revises: 0009_running_tally
Create Date: 2026-12-01 14:40:00
"""
from alembic import op
import sqlalchemy as sa

revision = "0010_exempt_households"
down_revision = "0009_running_tally"
branch_labels = None
depends_on = None

COLUMNS = ("vacant", "away", "refused")


def upgrade() -> None:
    with op.batch_alter_table("checkinreport") as batch_op:
        for name in COLUMNS:
            batch_op.add_column(
                sa.Column(name, sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("checkinreport") as batch_op:
        for name in COLUMNS:
            batch_op.drop_column(name)
