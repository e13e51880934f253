"""checkin: screening rounds, their unit snapshots and reports, daily rounds, scheduled items

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 09:12:31.302566

``ux_checkinreport_current`` is a partial unique index: at most one current
report per round and unit (amendments keep the older rows as history).
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('recurringround',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('scope_kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('scope_ids', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('scope_label', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('open_minute', sa.Integer(), nullable=False),
    sa.Column('close_minute', sa.Integer(), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('scheduleditem',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('ref_id', sa.Integer(), nullable=False),
    sa.Column('due_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('fired_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('kind', 'ref_id', 'due_at')
    )
    with op.batch_alter_table('scheduleditem', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scheduleditem_state'), ['state'], unique=False)

    op.create_table('checkinround',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('scope_kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('scope_ids', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('scope_label', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('opened_by', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('opened_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('deadline', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('closed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('closed_by', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('recurring_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['recurring_id'], ['recurringround.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('checkinround', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_checkinround_state'), ['state'], unique=False)

    op.create_table('checkinreport',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('reporter', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('households', sa.Integer(), nullable=False),
    sa.Column('returned', sa.Integer(), nullable=False),
    sa.Column('isolated', sa.Integer(), nullable=False),
    sa.Column('abnormal', sa.Integer(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('reported_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('is_current', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['round_id'], ['checkinround.id'], ),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('checkinreport', schema=None) as batch_op:
        batch_op.create_index('ix_checkinreport_round_unit', ['round_id', 'unit_id'], unique=False)
        batch_op.create_index('ux_checkinreport_current', ['round_id', 'unit_id'], unique=True, sqlite_where=sa.text('is_current = 1'), postgresql_where=sa.text('is_current'))

    op.create_table('checkinroundunit',
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('building_id', sa.Integer(), nullable=False),
    sa.Column('grid_id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('households', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['round_id'], ['checkinround.id'], ),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], ),
    sa.PrimaryKeyConstraint('round_id', 'unit_id')
    )


def downgrade() -> None:
    op.drop_table('checkinroundunit')
    with op.batch_alter_table('checkinreport', schema=None) as batch_op:
        batch_op.drop_index('ux_checkinreport_current', sqlite_where=sa.text('is_current = 1'), postgresql_where=sa.text('is_current'))
        batch_op.drop_index('ix_checkinreport_round_unit')

    op.drop_table('checkinreport')
    with op.batch_alter_table('checkinround', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_checkinround_state'))

    op.drop_table('checkinround')
    with op.batch_alter_table('scheduleditem', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scheduleditem_state'))

    op.drop_table('scheduleditem')
    op.drop_table('recurringround')
