"""Indexes for the acknowledgement reports: signatures covered by (user, basis, time), people by department.

Revision ID: c4a1d2e3f5b6
Revises: bad9cf411469
Create Date: 2026-11-23 12:40:00

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = 'c4a1d2e3f5b6'
down_revision = 'bad9cf411469'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('acknowledgement', schema=None) as batch_op:
        batch_op.drop_index('ix_acknowledgement_user_basis')
        batch_op.create_index('ix_acknowledgement_user_basis', ['user_id', 'basis_id', 'signed_at'], unique=False)
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.create_index('ix_user_department_id', ['department_id'], unique=False)


def downgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_index('ix_user_department_id')
    with op.batch_alter_table('acknowledgement', schema=None) as batch_op:
        batch_op.drop_index('ix_acknowledgement_user_basis')
        batch_op.create_index('ix_acknowledgement_user_basis', ['user_id', 'basis_id'], unique=False)
