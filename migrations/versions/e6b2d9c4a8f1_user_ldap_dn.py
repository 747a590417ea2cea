"""Directory login (issue #15, LDAP): user.ldap_dn marks accounts that come from the directory.

Revision ID: e6b2d9c4a8f1
Revises: a3c9e1f4b7d2
Create Date: 2026-11-30 16:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e6b2d9c4a8f1'
down_revision = 'a3c9e1f4b7d2'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ldap_dn', sa.String(length=512), nullable=True))


def downgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('ldap_dn')
