"""Notifications: group-robot channels per department or duty team, their outbox, and each person's switches.

Revision ID: a3f1c9e7b2d4
Revises: 18cca1030f53
Create Date: 2026-11-30 12:50:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'a3f1c9e7b2d4'
down_revision = '18cca1030f53'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('notify_channel',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('vendor', sa.String(length=16), nullable=False),
    sa.Column('url', sa.String(length=500), nullable=False),
    sa.Column('secret', sa.String(length=200), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("vendor IN ('wecom', 'dingtalk')", name=op.f('ck_notify_channel_vendor')),
    sa.CheckConstraint('(department_id IS NULL) <> (team_id IS NULL)', name=op.f('ck_notify_channel_one_audience')),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'], name=op.f('fk_notify_channel_department_id_department')),
    sa.ForeignKeyConstraint(['team_id'], ['team.id'], name=op.f('fk_notify_channel_team_id_team')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notify_channel'))
    )
    op.create_index(op.f('ix_notify_channel_department_id'), 'notify_channel', ['department_id'], unique=False)
    op.create_index(op.f('ix_notify_channel_team_id'), 'notify_channel', ['team_id'], unique=False)
    op.create_table('notify_outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_error', sa.String(length=300), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'sent', 'failed')", name=op.f('ck_notify_outbox_status')),
    sa.ForeignKeyConstraint(['channel_id'], ['notify_channel.id'], name=op.f('fk_notify_outbox_channel_id_notify_channel')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notify_outbox'))
    )
    op.create_index(op.f('ix_notify_outbox_channel_id'), 'notify_outbox', ['channel_id'], unique=False)
    op.create_index('ix_notify_outbox_due', 'notify_outbox', ['status', 'next_at'], unique=False)
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('notify_email', sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.add_column(sa.Column('notify_robot', sa.Boolean(), server_default=sa.true(), nullable=False))


def downgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('notify_robot')
        batch_op.drop_column('notify_email')
    op.drop_index('ix_notify_outbox_due', table_name='notify_outbox')
    op.drop_index(op.f('ix_notify_outbox_channel_id'), table_name='notify_outbox')
    op.drop_table('notify_outbox')
    op.drop_index(op.f('ix_notify_channel_team_id'), table_name='notify_channel')
    op.drop_index(op.f('ix_notify_channel_department_id'), table_name='notify_channel')
    op.drop_table('notify_channel')
