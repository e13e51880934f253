"""the web console (issue 13): single-use login and download links sent by the bot in
private chat (consolelink), and the browser sessions they open (consolesession). Only
SHA-256 digests of the tokens are stored.

Revision ID: 0010_console
Revises: 0009_checkin_and_audit
Create Date: 2026-12-01 17:00:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

revision = "0010_console"
down_revision = "0009_checkin_and_audit"
branch_labels = None
depends_on = None

_str = sqlmodel.sql.sqltypes.AutoString


def _token_table(name: str, *columns: sa.Column) -> None:
    """A table of tokens (stored as digests) held by an account, with their times."""
    op.create_table(
        name,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", _str(), nullable=False),
        sa.Column("account", _str(), nullable=False),
        *columns,
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index(f"ix_{name}_account", name, ["account"])


def upgrade() -> None:
    _token_table(
        "consolelink",
        sa.Column("purpose", _str(), nullable=False),
        sa.Column("path", _str(), nullable=False),
        sa.Column("label", _str(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
    )
    _token_table(
        "consolesession",
        sa.Column("csrf", _str(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
    )


def downgrade() -> None:
    op.drop_index("ix_consolesession_account", table_name="consolesession")
    op.drop_table("consolesession")
    op.drop_index("ix_consolelink_account", table_name="consolelink")
    op.drop_table("consolelink")
