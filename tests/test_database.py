"""Schema and storage: migrations match the models, the audit trail is append-only and verifiable."""
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.exc import DatabaseError

from app import audit
from app.audit import AuditEvent
from app.extensions import db


def test_migrations_match_the_models(empty_app):
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert diff == []


def test_database_settings(empty_app):
    """SQLite: WAL with a busy timeout and foreign keys. PostgreSQL: the psycopg 3 driver, JIT off."""
    with db.engine.connect() as conn:
        if db.engine.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10000
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        else:
            assert db.engine.dialect.driver == "psycopg"
            assert conn.exec_driver_sql("SHOW jit").scalar() == "off"


def test_postgresql_connections_turn_jit_off(tmp_path, monkeypatch):
    """Checked without a server too: the option every PostgreSQL connection is opened with."""
    from app import create_app
    monkeypatch.setenv("SOP_INSTANCE_DIR", str(tmp_path))
    app = create_app({"SQLALCHEMY_DATABASE_URI": "postgresql://nobody@127.0.0.1:1/none", "SECRET_KEY": "k" * 32})
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"] == {"options": "-c jit=off"}


def test_audit_chain_links_and_verifies(empty_app):
    first = audit.record("test.one", "thing:1", {"a": 1})
    second = audit.record("test.two", "thing:2")
    db.session.commit()
    assert second.prev_hash == first.hash and first.prev_hash == audit.GENESIS
    assert audit.verify() == (2, None)


@pytest.mark.parametrize("statement", ["UPDATE audit_event SET actor = 'mallory'", "DELETE FROM audit_event"])
def test_audit_trail_refuses_update_and_delete(empty_app, statement):
    audit.record("test.one", "thing:1")
    db.session.commit()
    with pytest.raises(DatabaseError, match="append-only"):
        db.session.execute(sa.text(statement))
    db.session.rollback()
    assert db.session.scalar(sa.select(AuditEvent.actor)) == "system"


def test_audit_verify_reports_the_first_broken_link(empty_app):
    for n in range(3):
        audit.record("test", f"thing:{n}")
    db.session.commit()
    # Someone with DDL rights drops the guard and rewrites history; verify must notice.
    if db.engine.dialect.name == "sqlite":
        db.session.execute(sa.text("DROP TRIGGER audit_event_no_update"))
    else:
        db.session.execute(sa.text("ALTER TABLE audit_event DISABLE TRIGGER audit_event_no_change"))
    second = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)).all()[1]
    db.session.execute(sa.update(AuditEvent).where(AuditEvent.id == second.id).values(object="thing:forged"))
    db.session.commit()
    n, broken = audit.verify()
    assert n == 1 and broken.id == second.id
    result = empty_app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 1 and f"BROKEN at event id {second.id}" in result.output


def test_migrations_run_on_a_database_full_of_data(app):
    """The demo's users, SOPs and signatures point at each other: a migration that rebuilds a table (SQLite's batch
    mode) must not trip over them, down and up again, and nothing may be lost."""
    from flask_migrate import downgrade, upgrade
    with db.engine.connect() as conn:
        head = MigrationContext.configure(conn).get_current_revision()
        users = conn.execute(sa.text("SELECT count(*) FROM user" if db.engine.dialect.name == "sqlite"
                                     else 'SELECT count(*) FROM "user"')).scalar()
    db.session.remove()
    downgrade(revision="18cca1030f53")  # before the notification switches were added to the user table
    upgrade()
    with db.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head
        assert conn.execute(sa.text("SELECT count(*) FROM user" if db.engine.dialect.name == "sqlite"
                                    else 'SELECT count(*) FROM "user"')).scalar() == users > 0
        if db.engine.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_flask_db_upgrade_is_idempotent(empty_app):
    from flask_migrate import upgrade
    upgrade()  # already at head: nothing to do, no error
    with db.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() is not None
