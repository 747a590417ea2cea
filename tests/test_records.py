"""Records that stand up in an audit: the keyed and anchored audit chain, signatures checked against it,
TRUNCATE refused, the signing transaction, and backups that have been restored."""
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DatabaseError

from app import audit
from app.acks.models import Acknowledgement
from app.audit import KEYED, LEGACY, AuditEvent
from app.auth.models import User
from app.extensions import db, login_manager
from app.sops.models import Sop
from tests.conftest import ROOT, PG_URL

POSTGRES = bool(PG_URL)


def unguard(table: str = "audit_event") -> None:
    """What an attacker with DDL rights on the database does first: switch the append-only triggers off."""
    if db.engine.dialect.name == "sqlite":
        for verb in ("update", "delete"):
            db.session.execute(sa.text(f"DROP TRIGGER {table}_no_{verb}"))
    else:
        db.session.execute(sa.text(f"ALTER TABLE {table} DISABLE TRIGGER {table}_no_change"))


def rechain(events: list[AuditEvent], scheme: str, key: bytes | None = None) -> None:
    """Recompute every link from the first given event on, as someone without the audit key can."""
    prev = events[0].prev_hash
    for event in events:
        event.prev_hash, event.scheme = prev, scheme
        event.hash = event.digest(key)
        prev = event.hash
        db.session.flush()


def all_events() -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)))


def problems() -> list[str]:
    db.session.expire_all()
    return audit.full_check().problems


# ---------------------------------------------------------------- the chain, keyed and anchored


def test_verify_is_the_same_in_any_time_zone(app):
    """An untouched demo database verifies under TZ=Asia/Shanghai (SQLite returns naive UTC datetimes)."""
    env = {**os.environ, "TZ": "Asia/Shanghai", "FLASK_APP": "wsgi.py", "PYTHONPATH": str(ROOT),
           "SOP_INSTANCE_DIR": app.instance_path, "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
           "SECRET_KEY": "test-secret-key-for-a-subprocess"}
    proc = subprocess.run([sys.executable, "-m", "flask", "audit", "verify"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "audit trail intact" in proc.stdout and "BROKEN" not in proc.stdout


def test_the_chain_is_keyed_with_a_secret_outside_the_database(empty_app):
    for n in range(3):
        audit.record("test", f"thing:{n}")
    db.session.commit()
    key_file = os.path.join(empty_app.instance_path, "audit.key")
    assert os.stat(key_file).st_mode & 0o077 == 0  # only the portal's user reads it
    assert {e.scheme for e in all_events()} == {KEYED}
    assert audit.full_check().ok


def test_a_rewritten_and_rechained_history_is_found(empty_app):
    """Edit an event and recompute every later hash without the key: verify names the edited event."""
    for n in range(4):
        audit.record("test", f"thing:{n}")
    db.session.commit()
    unguard()
    events = all_events()
    events[1].object = "thing:forged"
    rechain(events[1:], KEYED, key=b"a key the attacker made up")
    db.session.commit()
    n, broken = audit.verify()
    assert (n, broken.id) == (1, events[1].id)
    result = empty_app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 1 and f"BROKEN at event id {events[1].id}" in result.output


def test_downgrading_the_whole_chain_to_plain_sha256_is_found(empty_app):
    """Rewrite every event as an unkeyed one: the chain is self-consistent, the anchor outside is not."""
    for n in range(3):
        audit.record("test", f"thing:{n}")
    db.session.commit()
    unguard()
    events = all_events()
    events[1].object = "thing:forged"
    rechain(events, LEGACY)
    db.session.commit()
    found = problems()
    assert any(f"audit event id {events[-1].id} differs from the anchored head" in p for p in found), found


def test_an_unkeyed_event_after_keyed_ones_breaks_the_chain(empty_app):
    for n in range(3):
        audit.record("test", f"thing:{n}")
    db.session.commit()
    unguard()
    events = all_events()
    rechain(events[1:], LEGACY)
    db.session.commit()
    assert audit.verify()[1].id == events[1].id


def test_deleting_the_newest_events_is_reported_as_truncation(empty_app):
    for n in range(5):
        audit.record("test", f"thing:{n}")
    db.session.commit()
    events = all_events()
    unguard()
    db.session.execute(sa.delete(AuditEvent).where(AuditEvent.id > events[2].id))
    db.session.commit()
    assert audit.verify() == (3, None)  # what is left is a perfect chain
    result = empty_app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert f"truncated: events after id {events[2].id} are missing" in result.output


def test_a_missing_or_forged_anchor_is_reported(empty_app):
    audit.record("test", "thing:1")
    db.session.commit()
    anchor = os.path.join(empty_app.instance_path, "audit-head")
    data = json.loads(Path(anchor).read_text())
    with open(anchor, "w") as f:
        json.dump({**data, "id": data["id"] - 1}, f)  # moved back by someone without the key
    assert any("not signed with the audit key" in p for p in problems())
    os.unlink(anchor)
    assert any("audit head anchor missing" in p for p in problems())


def test_the_anchor_only_moves_forward(empty_app):
    """Two workers may anchor their commits in either order; the later event wins."""
    first = audit.record("test", "thing:1")
    second = audit.record("test", "thing:2")
    db.session.commit()
    key = audit.audit_key()
    audit.write_anchor(first.id, first.hash, key)
    assert audit.read_anchor()["id"] == second.id
    assert audit.full_check().ok


def test_a_rolled_back_event_is_not_anchored(empty_app):
    kept = audit.record("test", "thing:1")
    db.session.commit()
    audit.record("test", "thing:2")
    db.session.rollback()
    assert audit.read_anchor()["id"] == kept.id and audit.full_check().ok


def test_events_from_before_the_key_still_verify_and_the_chain_goes_on_keyed(empty_app):
    """A database from before this change: plain SHA-256 events, no key file, no anchor."""
    prev = audit.GENESIS
    for n in range(2):
        event = AuditEvent(at=datetime(2026, 1, 1, 8, n, tzinfo=timezone.utc), actor_id=None, actor="system",
                           action="old", object=f"thing:{n}", detail="{}", ip="", prev_hash=prev, scheme=LEGACY)
        event.hash = event.digest()
        db.session.add(event)
        prev = event.hash
    db.session.commit()
    assert audit.full_check().ok  # no key, no anchor yet: nothing keyed to protect
    assert not os.path.exists(os.path.join(empty_app.instance_path, "audit.key"))
    audit.record("new", "thing:2")
    db.session.commit()
    assert [e.scheme for e in all_events()] == [LEGACY, LEGACY, KEYED]
    report = audit.full_check()
    assert report.ok and report.events == 3, report.problems


def test_a_lost_key_is_never_silently_replaced(empty_app):
    audit.record("test", "thing:1")
    db.session.commit()
    os.unlink(os.path.join(empty_app.instance_path, "audit.key"))
    with pytest.raises(audit.KeyMissing, match="restore the key"):
        audit.record("test", "thing:2")
    db.session.rollback()
    assert any("audit key is missing" in p for p in problems())


def test_audit_key_from_the_config_wins_over_the_file(empty_app):
    empty_app.config["AUDIT_KEY"] = "from-the-vault"
    audit.record("test", "thing:1")
    db.session.commit()
    assert not os.path.exists(os.path.join(empty_app.instance_path, "audit.key"))
    assert audit.full_check().ok
    empty_app.config["AUDIT_KEY"] = "another"
    assert not audit.full_check().ok


# ---------------------------------------------------------------- signatures against their audit entries


def test_the_demo_signatures_match_their_audit_entries(app):
    report = audit.full_check()
    assert report.ok, report.problems
    assert any(line.startswith("acknowledgements: ") and " 0 mismatches" in line for line in report.lines)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Acknowledgement)) > 0


def test_a_signature_without_its_audit_entry_is_reported(app):
    """A row written straight into the table (no ack.sign event), and an event whose signature differs."""
    user = db.session.scalar(sa.select(User).where(User.username == "newhire"))
    sop = db.session.scalar(sa.select(Sop).where(Sop.code == "FO-CI-001"))
    rev = sop.current
    forged = Acknowledgement(user_id=user.id, revision_id=rev.id, sop_id=sop.id, basis_id=rev.basis_id,
                             printed_name=user.display_name, signed_at=datetime.now(timezone.utc), meaning="x", content_sha256=rev.content_hash, auth_method="password")
    db.session.add(forged)
    event = audit.record("ack.sign", f"sop:{sop.code}", {"revision": rev.number, "sha256": "0" * 64}, actor=user)
    db.session.commit()
    found = problems()
    assert f"signature without its audit entry: acknowledgement id {forged.id} (user id {user.id}, " \
           f"sop:FO-CI-001 revision {rev.number}" in "\n".join(found)
    assert any(p.startswith(f"ack.sign audit event id {event.id} has no signature") for p in found)
    assert len(found) == 2
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 1 and "acknowledgements: " in result.output and "2 mismatches" in result.output


def test_a_signature_signed_through_the_page_matches_its_entry(client, auth):
    from tests.test_acks import sign
    auth.login("newhire")
    assert sign(auth, "FO-CI-001").status_code == 303
    assert problems() == []


# ---------------------------------------------------------------- TRUNCATE


@pytest.mark.parametrize("table", ["audit_event", "acknowledgement"])
def test_truncate_is_refused(app, table):
    """PostgreSQL: a statement trigger refuses TRUNCATE (row triggers do not fire on it). SQLite has no
    TRUNCATE; its truncate optimisation of a bare DELETE is off because the DELETE trigger refuses it."""
    before = db.session.scalar(sa.select(sa.func.count()).select_from(sa.table(table)))
    statement = f"TRUNCATE {table}" if db.engine.dialect.name == "postgresql" else f"DELETE FROM {table}"
    with pytest.raises(DatabaseError, match="append-only"):
        db.session.execute(sa.text(statement))
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(sa.table(table))) == before > 0


# ---------------------------------------------------------------- the signing transaction


def write_lock_free() -> bool:
    """Could another process write right now? SQLite: a second connection gets BEGIN IMMEDIATE at once.
    PostgreSQL: no other session of this database holds a transaction that has written (an xid)."""
    url = db.engine.url
    if url.get_backend_name() == "sqlite":
        conn = sqlite3.connect(url.database, timeout=0, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
            return True
        except sqlite3.OperationalError:
            return False
        finally:
            conn.close()
    with psycopg.connect(host=url.host, port=url.port or 5432, user=url.username, dbname=url.database) as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                            "AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()").fetchone()[0] == 0


def test_the_password_is_checked_without_holding_the_write_lock(client, auth, monkeypatch):
    from tests.test_acks import sign
    auth.login("newhire")
    probes = []
    check = User.check_password

    def probing(self, password):
        probes.append(write_lock_free())
        return check(self, password)

    monkeypatch.setattr(User, "check_password", probing)
    assert sign(auth, "FO-CI-001", password="wrong").status_code == 401
    assert sign(auth, "FO-CI-001").status_code == 303
    assert probes == [True, True]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Acknowledgement).join(User).where(
        User.username == "newhire", Acknowledgement.sop_id == Sop.id, Sop.code == "FO-CI-001")) == 1


def test_a_login_checks_the_password_without_holding_the_write_lock(client, auth, monkeypatch):
    """Logins hash a password too; under 4 workers a login that held the lock for it got "database is locked"."""
    import app.auth.service as service
    probes = []
    matches = service.password_matches

    def probing(user, password):
        probes.append(write_lock_free())
        return matches(user, password)

    monkeypatch.setattr(service, "password_matches", probing)
    assert auth.login("newhire", "wrong").status_code == 401
    assert auth.login("nobody-here", "wrong").status_code == 401
    assert auth.login("newhire").status_code == 303
    assert probes == [True, True, True]


def test_loading_the_user_never_takes_the_write_lock(client, auth, monkeypatch):
    """Flask-Login loads the user on every request, POSTs included."""
    from tests.test_acks import sign
    auth.login("newhire")
    probes = []
    loader = login_manager._user_callback

    def probing(token):
        user = loader(token)
        probes.append(write_lock_free())
        return user

    monkeypatch.setattr(login_manager, "_user_callback", probing)
    assert sign(auth, "FO-CI-001").status_code == 303
    assert probes and all(probes), probes


# ---------------------------------------------------------------- backups that have been restored


def signature_pairs() -> set[tuple[int, int]]:
    return {tuple(r) for r in db.session.execute(sa.select(Acknowledgement.user_id, Acknowledgement.revision_id))}


class Writer(threading.Thread):
    """Signs (and, once out of things to sign, audits) in a loop, one commit at a time, as the portal would."""

    def __init__(self, app):
        super().__init__(daemon=True)
        self.app, self.committed, self.error = app, [], None
        self.stop = threading.Event()

    def pairs(self) -> list[tuple[int, int]]:
        signed = signature_pairs()
        sops = db.session.scalars(sa.select(Sop).where(Sop.retired_at.is_(None))).all()
        users = db.session.scalars(sa.select(User).where(User.active)).all()
        return [(u.id, s.id) for s in sops for u in users if (u.id, s.current_revision_id) not in signed]

    def run(self):
        from app.acks.signing import record_signature
        with self.app.app_context():
            try:
                todo = iter(self.pairs())
                while not self.stop.is_set():
                    pair = next(todo, None)
                    if pair is None:
                        audit.record("test.load", "thing:load")
                    else:
                        user, sop = db.session.get(User, pair[0]), db.session.get(Sop, pair[1])
                        record_signature(user, sop, sop.current, "test")
                        pair = (user.id, sop.current_revision_id)
                    db.session.commit()
                    self.committed.append(pair)
            except Exception as e:  # noqa: BLE001 - reported by the test
                self.error = e
            finally:
                db.session.remove()

    def wait_for_more(self, n: int) -> None:
        target = len(self.committed) + n
        deadline = time.monotonic() + 60
        while len(self.committed) < target and self.error is None:
            assert time.monotonic() < deadline, "the writer stalled"
            time.sleep(0.01)
        assert self.error is None, self.error


def empty_instance(tmp_path: Path, monkeypatch):
    """A new app over an empty database, instance folder and content folder."""
    from app import create_app
    from tests.conftest import BASE, new_database
    target = tmp_path / "restored"
    target.mkdir()
    monkeypatch.setenv("SOP_INSTANCE_DIR", str(target / "instance"))
    uri = new_database(None, target)
    return create_app({**BASE, "SQLALCHEMY_DATABASE_URI": uri, "CONTENT_DIR": str(target / "content"),
                       "SOP_DIR": str(target / "content" / "sops")}), uri


def test_a_backup_under_write_load_restores_into_a_copy_that_verifies(app, tmp_path, monkeypatch):
    from app import backup
    from tests.conftest import drop_database
    writer = Writer(app)
    before_snapshot, after_snapshot = [], []
    snapshot = backup.snapshot_database

    def under_load(dest):
        writer.wait_for_more(3)  # commits after the anchor was copied
        before_snapshot.extend(p for p in writer.committed if p)
        name = snapshot(dest)
        done = len(writer.committed)
        writer.wait_for_more(3)  # and after the snapshot: not in the copy
        after_snapshot.extend(p for p in writer.committed[done:] if p)
        return name

    monkeypatch.setattr(backup, "snapshot_database", under_load)
    uploads = Path(app.instance_path) / "uploads" / "2026"
    uploads.mkdir(parents=True)
    (uploads / "夜审交接表.xlsx").write_bytes(b"PK\x03\x04 an attachment")
    writer.start()
    try:
        result = app.test_cli_runner().invoke(args=["backup", str(tmp_path / "bk")])
    finally:
        writer.stop.set()
        writer.join(30)
    assert writer.error is None and result.exit_code == 0, (writer.error, result.output)
    assert len(before_snapshot) >= 3 and after_snapshot  # signatures, not only audit events, on both sides
    manifest = json.loads((tmp_path / "bk" / "manifest.json").read_text())
    assert {"audit/audit.key", "audit/audit-head", "content/org.yaml", "uploads/2026/夜审交接表.xlsx"} <= set(
        manifest["files"])
    assert any(name.startswith("content/sops/") for name in manifest["files"])

    restored, uri = empty_instance(tmp_path, monkeypatch)
    try:
        with restored.app_context():  # the CLI runs in the active app context (the fixture's is active)
            result = restored.test_cli_runner().invoke(args=["restore", str(tmp_path / "bk")])
        assert result.exit_code == 0, result.output
        assert "audit trail intact" in result.output and "0 mismatches" in result.output
        with restored.app_context():
            report = audit.full_check()
            assert report.ok, report.problems
            copied = signature_pairs()
            assert set(before_snapshot) <= copied  # everything committed before the snapshot
            assert not copied & set(after_snapshot)  # nothing committed after it
        content = Path(restored.config["CONTENT_DIR"])
        assert (content / "org.yaml").read_bytes() == (ROOT / "content" / "org.yaml").read_bytes()
        assert os.stat(Path(restored.instance_path) / "audit.key").st_mode & 0o077 == 0
        assert (Path(restored.instance_path) / "uploads" / "2026" / "夜审交接表.xlsx").read_bytes() == \
            b"PK\x03\x04 an attachment"
    finally:
        with restored.app_context():
            db.engine.dispose()
        drop_database(uri)


def test_restore_refuses_an_instance_that_is_not_empty(app, tmp_path):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["backup", str(tmp_path / "bk")]).exit_code == 0
    result = runner.invoke(args=["restore", str(tmp_path / "bk")])
    assert result.exit_code == 1
    assert "restore needs an empty instance" in result.output and "tables" in result.output
    assert "audit.key exists" in result.output
    again = runner.invoke(args=["backup", str(tmp_path / "bk")])
    assert again.exit_code == 1 and "is not empty" in again.output


def test_restore_checks_the_manifest_before_touching_anything(app, tmp_path, monkeypatch):
    from tests.conftest import drop_database
    assert app.test_cli_runner().invoke(args=["backup", str(tmp_path / "bk")]).exit_code == 0
    with open(tmp_path / "bk" / "content" / "org.yaml", "a") as f:
        f.write("# edited after the backup\n")
    restored, uri = empty_instance(tmp_path, monkeypatch)
    try:
        with restored.app_context():
            result = restored.test_cli_runner().invoke(args=["restore", str(tmp_path / "bk")])
        assert result.exit_code == 1 and "the backup is damaged" in result.output and "content/org.yaml" in result.output
        with restored.app_context():
            assert sa.inspect(db.engine).get_table_names() == []
        assert not (Path(restored.instance_path) / "audit.key").exists()
    finally:
        with restored.app_context():
            db.engine.dispose()
        drop_database(uri)
