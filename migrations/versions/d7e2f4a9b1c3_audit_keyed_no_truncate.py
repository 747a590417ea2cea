"""Audit events record how their hash was made (sha256 before the audit key, hmac-sha256 after);
PostgreSQL refuses TRUNCATE on the audit trail and the signatures.

Revision ID: d7e2f4a9b1c3
Revises: c4a1d2e3f5b6
Create Date: 2026-11-30 09:30:00

"""
import sqlalchemy as sa
from alembic import op

from app.audit import no_truncate

# revision identifiers, used by Alembic.
revision = 'd7e2f4a9b1c3'
down_revision = 'c4a1d2e3f5b6'
branch_labels = None
depends_on = None

TABLES = ('audit_event', 'acknowledgement')


def upgrade():
    # A plain ADD COLUMN, not a batch copy: recreating audit_event on SQLite would drop its triggers.
    # Every existing row is a plain SHA-256 link.
    op.add_column('audit_event', sa.Column('scheme', sa.String(length=16), server_default='sha256', nullable=False))
    for table in TABLES:
        for statement in no_truncate(table, op.get_bind().dialect.name):
            op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        for table in TABLES:
            op.execute(f'DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}')
    op.execute('ALTER TABLE audit_event DROP COLUMN scheme')  # SQLite >= 3.35; keeps the triggers
