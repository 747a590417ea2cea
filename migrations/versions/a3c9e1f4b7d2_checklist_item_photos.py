"""Checklist items take a photo as evidence: item_photo, append-only.

Revision ID: a3c9e1f4b7d2
Revises: a3f1c9e7b2d4
Create Date: 2026-11-30 13:10:00

"""
from alembic import op
import sqlalchemy as sa

from app.audit import append_only


# revision identifiers, used by Alembic.
revision = 'a3c9e1f4b7d2'
down_revision = 'a3f1c9e7b2d4'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('item_photo',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('content_type', sa.String(length=32), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('uploaded_by_id', sa.Integer(), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['run_item.id'], name=op.f('fk_item_photo_item_id_run_item')),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['user.id'], name=op.f('fk_item_photo_uploaded_by_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_item_photo'))
    )
    with op.batch_alter_table('item_photo', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_item_photo_item_id'), ['item_id'], unique=False)
    for statement in append_only('item_photo', op.get_bind().dialect.name):
        op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP FUNCTION IF EXISTS item_photo_append_only() CASCADE')
    with op.batch_alter_table('item_photo', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_item_photo_item_id'))
    op.drop_table('item_photo')
