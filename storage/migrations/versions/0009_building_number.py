"""an index on building.number: /打卡 finds "3栋2单元" from the building's number

Revision ID: 0009_building_number
Revises: 0008_directory_version
Create Date: 2026-12-01 11:40:00
"""
from alembic import op

revision = "0009_building_number"
down_revision = "0008_directory_version"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_building_number", "building", ["number"])


def downgrade() -> None:
    op.drop_index("ix_building_number", table_name="building")
