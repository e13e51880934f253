"""deadlines: scheduler lease, late flag on scheduled items, reminders, alerts, assist tasks

Revision ID: 0006_deadlines
Revises: 0005
Create Date: 2026-11-29 09:57:06.621561

A sibling of ``0006_events`` (both follow 0005): ``storage.migrate.upgrade``
applies all heads.
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0006_deadlines'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('schedulerlease',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('holder', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('acquired_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    with op.batch_alter_table('scheduleditem', schema=None) as batch_op:
        batch_op.add_column(sa.Column('late', sa.Boolean(), server_default=sa.false(), nullable=False))

    op.create_table('reminder',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('platform', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('bot_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('chat_kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('target', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('chat_group_id', sa.Integer(), nullable=True),
    sa.Column('due_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('daily_minute', sa.Integer(), nullable=True),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('sent_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('cancelled_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('cancelled_by', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('reminder', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reminder_chat_group_id'), ['chat_group_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_reminder_state'), ['state'], unique=False)

    op.create_table('alert',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('region', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('ack_deadline', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=True),
    sa.Column('round_deadline', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('escalated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['round_id'], ['checkinround.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('alertack',
    sa.Column('alert_id', sa.Integer(), nullable=False),
    sa.Column('chat_group_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('label', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('acked_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('acked_by', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('ack_minutes', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['alert_id'], ['alert.id'], ),
    sa.PrimaryKeyConstraint('alert_id', 'chat_group_id')
    )
    op.create_table('assisttask',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('letter_no', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('due_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('done_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('done_by', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('escalated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('letter_no')
    )
    with op.batch_alter_table('assisttask', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_assisttask_state'), ['state'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('assisttask', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assisttask_state'))

    op.drop_table('assisttask')
    op.drop_table('alertack')
    op.drop_table('alert')
    with op.batch_alter_table('reminder', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reminder_state'))
        batch_op.drop_index(batch_op.f('ix_reminder_chat_group_id'))

    op.drop_table('reminder')
    with op.batch_alter_table('scheduleditem', schema=None) as batch_op:
        batch_op.drop_column('late')

    op.drop_table('schedulerlease')
