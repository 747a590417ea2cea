"""`flask backup DIR` and `flask restore DIR`: a consistent copy of everything a portal's records need, and the
way back into an empty instance.

A backup holds the database (SQLite: the online backup API, one read transaction, so the portal keeps serving;
PostgreSQL: pg_dump's custom format, one snapshot), the content folder, the instance's uploads, the audit key
and head anchor, and manifest.json with the SHA-256 of every file. The anchor is copied before the database:
it then never runs ahead of the snapshot, and the restored copy verifies.
"""
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext

from app import audit
from app.errors import UserError
from app.extensions import db

MANIFEST = "manifest.json"
FORMAT = 1
SQLITE_FILE, PG_FILE = "database.sqlite3", "database.pgdump"
SKIP = {".git", "__pycache__"}  # never part of the content


class BackupError(UserError):
    status = 409


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not SKIP & set(p.relative_to(root).parts))


def copy_tree(src: Path, dest: Path) -> None:
    for path in files_under(src):
        target = dest / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)


def folders() -> dict[str, Path]:
    """What is copied besides the database, by its name in the backup."""
    instance, content, sops = (Path(current_app.instance_path), Path(current_app.config["CONTENT_DIR"]),
                               Path(current_app.config["SOP_DIR"]))
    found = {"content": content, "uploads": instance / "uploads"}
    if not sops.resolve().is_relative_to(content.resolve()):
        found["sops"] = sops
    return found


def pg_command(tool: str, url: sa.engine.URL) -> tuple[list[str], dict]:
    """A libpq command line for the app's database; the password goes in the environment, not in ps."""
    env = {**os.environ}
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    args = [tool, "--host", url.host or "127.0.0.1", "--port", str(url.port or 5432), "--dbname", url.database]
    if url.username:
        args += ["--username", url.username]
    return args, env


def snapshot_database(dest: Path) -> str:
    """Write the database into dest; return the file's name. A single consistent snapshot, taken while serving."""
    url = db.engine.url
    if url.get_backend_name() == "sqlite":
        src = sqlite3.connect(f"file:{url.database}?mode=ro", uri=True, timeout=30)
        out = sqlite3.connect(dest / SQLITE_FILE)
        try:
            src.backup(out)  # pages=-1: one step, inside one read transaction
        finally:
            out.close()
            src.close()
        return SQLITE_FILE
    args, env = pg_command("pg_dump", url)
    proc = subprocess.run([*args, "--format=custom", "--no-owner", "--no-privileges", "--file", str(dest / PG_FILE)],
                          env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BackupError("pg_dump failed: %(err)s", err=proc.stderr.strip())
    return PG_FILE


def backup(dest: Path) -> dict:
    """Copy the audit key and anchor, the database, the content and the uploads into dest; write the manifest."""
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise BackupError("%(dest)s is not empty; give a new folder for each backup", dest=dest)
    dest.mkdir(parents=True, exist_ok=True)
    dest.chmod(0o700)  # password hashes and the audit key: for the portal's user only
    instance = Path(current_app.instance_path)
    for name in (audit.KEY_FILE, audit.HEAD_FILE):  # first: the anchor must not be newer than the snapshot
        if (instance / name).exists():
            (dest / "audit").mkdir(exist_ok=True)
            shutil.copy2(instance / name, dest / "audit" / name)
    database = snapshot_database(dest)
    for name, folder in folders().items():
        if folder.is_dir():
            copy_tree(folder, dest / name)
    manifest = {
        "format": FORMAT, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "database": {"dialect": db.engine.dialect.name, "file": database},
        "audit_key_in_config": bool(current_app.config.get("AUDIT_KEY")),
        "files": {str(p.relative_to(dest)): sha256(p) for p in files_under(dest)},
    }
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=1, ensure_ascii=False))
    return manifest


def check_manifest(src: Path) -> dict:
    """The manifest, once every file it lists is present with its SHA-256 (nothing is touched before this)."""
    try:
        manifest = json.loads((src / MANIFEST).read_text())
    except (OSError, ValueError) as e:
        raise BackupError("%(src)s has no readable manifest.json (%(e)s)", src=src, e=e)
    bad = [name for name, digest in manifest["files"].items()
           if not (src / name).is_file() or sha256(src / name) != digest]
    if bad:
        raise BackupError("the backup is damaged: %(n)s files are missing or differ from manifest.json: %(files)s",
                          n=len(bad), files=", ".join(bad[:10]))
    if manifest["database"]["dialect"] != db.engine.dialect.name:
        raise BackupError("this is a %(kind)s backup; the instance uses %(ours)s",
                          kind=manifest["database"]["dialect"], ours=db.engine.dialect.name)
    return manifest


def occupied(src: Path) -> list[str]:
    """Why the target instance is not empty (nothing when restoring is safe)."""
    reasons = []
    tables = sa.inspect(db.engine).get_table_names()
    if tables:
        reasons.append(f"the database {db.engine.url.render_as_string()} has {len(tables)} tables")
    instance = Path(current_app.instance_path)
    for name in (audit.KEY_FILE, audit.HEAD_FILE):
        if (instance / name).exists():
            reasons.append(f"{instance / name} exists")
    for name, folder in folders().items():
        ours = {str(p.relative_to(folder)): p for p in files_under(folder)} if folder.is_dir() else {}
        theirs = {str(p.relative_to(src / name)): p for p in files_under(src / name)} if (src / name).is_dir() else {}
        differ = [n for n in ours if n not in theirs or sha256(ours[n]) != sha256(theirs[n])]
        if differ:
            reasons.append(f"{folder} holds {len(differ)} files that differ from the backup's {name}/ "
                           f"(e.g. {differ[0]})")
    return reasons


def restore_database(src: Path, manifest: dict) -> None:
    url = db.engine.url
    db.session.remove()
    db.engine.dispose()
    if url.get_backend_name() == "sqlite":
        source = sqlite3.connect(f"file:{src / SQLITE_FILE}?mode=ro", uri=True)
        target = sqlite3.connect(url.database)
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()
        return
    args, env = pg_command("pg_restore", url)
    proc = subprocess.run([*args, "--no-owner", "--no-privileges", "--exit-on-error", str(src / PG_FILE)],
                          env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BackupError("pg_restore failed: %(err)s", err=proc.stderr.strip())


def restore(src: Path) -> audit.Report:
    """Check the manifest, refuse an instance that is not empty, then put everything back and verify the trail."""
    src = Path(src)
    manifest = check_manifest(src)
    reasons = occupied(src)
    if reasons:
        raise BackupError("restore needs an empty instance, and this one is not: %(why)s. Point SOP_INSTANCE_DIR, "
                          "DATABASE_URL and CONTENT_DIR at empty places, or clear them", why="; ".join(reasons))
    restore_database(src, manifest)
    instance = Path(current_app.instance_path)
    if (src / "audit").is_dir():
        copy_tree(src / "audit", instance)
        if (instance / audit.KEY_FILE).exists():
            os.chmod(instance / audit.KEY_FILE, 0o600)
    for name, folder in folders().items():
        if (src / name).is_dir():
            copy_tree(src / name, folder)
    return audit.full_check()


@click.command("backup")
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@with_appcontext
def backup_command(dest: Path):
    """Write a consistent backup into the new folder DEST (safe while the portal serves)."""
    try:
        manifest = backup(dest)
    except BackupError as e:
        raise click.ClickException(str(e))
    size = sum((dest / name).stat().st_size for name in manifest["files"])
    click.echo(f"backup written to {dest}: {manifest['database']['file']} and {len(manifest['files'])} files, "
               f"{size / 2**20:.1f} MB; SHA-256 of each in {MANIFEST}")
    if (dest / "audit" / audit.KEY_FILE).exists():
        click.echo(f"it holds the audit key (audit/{audit.KEY_FILE}): keep a copy of the key apart from the backups")


@click.command("restore")
@click.argument("src", type=click.Path(exists=True, file_okay=False, path_type=Path))
@with_appcontext
def restore_command(src: Path):
    """Restore the backup SRC into this (empty) instance, then verify its audit trail."""
    try:
        report = restore(src)
    except BackupError as e:
        raise click.ClickException(str(e))
    click.echo(f"restored {src} into {current_app.instance_path} ({db.engine.url.render_as_string()})")
    for line in report.lines + report.problems:
        click.echo(line)
    if not report.ok:
        raise SystemExit(1)
    click.echo("the search index rebuilds itself on the first search (or run `flask search rebuild`)")


commands = [backup_command, restore_command]
