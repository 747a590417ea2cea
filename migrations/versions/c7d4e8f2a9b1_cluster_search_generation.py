"""Two or more app nodes: search_generation, the number each node's own index catches up to.

Revision ID: c7d4e8f2a9b1
Revises: e6b2d9c4a8f1
Create Date: 2026-11-30 16:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c7d4e8f2a9b1'
down_revision = 'e6b2d9c4a8f1'
branch_labels = None
depends_on = None


def upgrade():
    table = op.create_table('search_generation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_search_generation'))
    )
    op.bulk_insert(table, [{'id': 1, 'value': 0}])


def downgrade():
    op.drop_table('search_generation')
