"""merge the deadlines and events branches

Revision ID: 0007_merge
Revises: 0006_deadlines, 0006_events
Create Date: 2026-11-29 10:20:00
"""

revision = "0007_merge"
down_revision = ("0006_deadlines", "0006_events")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
