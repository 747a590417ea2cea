"""Departments and positions (岗位), loaded from content/org.yaml. Knows no feature."""
from pathlib import Path

import sqlalchemy as sa
import yaml
from flask import current_app
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app import safeyaml
from app.extensions import db


class Department(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(16), unique=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)  # 前厅部
    name_en: Mapped[str] = mapped_column(sa.String(64), default="")
    positions: Mapped[list["Position"]] = relationship(back_populates="department", order_by="Position.id")

    def label(self, locale: str) -> str:
        return self.name_en if locale == "en" and self.name_en else self.name

    def answers_to(self, owner: str) -> bool:
        """Whether an SOP's `owner: front-office` (or FO, 前厅部, customer-service for Customer Service Center) means
        this department."""
        slug = "-".join(self.name_en.lower().split())
        owner = owner.strip().lower()
        return owner in (self.code.lower(), self.name, slug) or bool(slug and slug.startswith(owner + "-"))


def owner_label(owner: str | None, locale: str) -> str:
    """An SOP's owner as people read it: the department's name when it names one, else as written."""
    if not owner:
        return ""
    dept = next((d for d in db.session.scalars(sa.select(Department)) if d.answers_to(owner)), None)
    return dept.label(locale) if dept else owner


class Position(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)  # 夜审员
    department_id: Mapped[int] = mapped_column(sa.ForeignKey("department.id"))
    department: Mapped[Department] = relationship(back_populates="positions")


class OrgError(ValueError):
    def __init__(self, path: Path, line: int, reason: str):
        super().__init__(f"{path}:{line}: {reason}")
        self.path, self.line, self.reason = path, line, reason


def org_file() -> Path:
    return Path(current_app.config["CONTENT_DIR"]) / "org.yaml"


def sync_org(path: Path | None = None) -> list[str]:
    """Upsert departments and positions from org.yaml. Nothing is deleted: people and SOPs point at them."""
    path = path or org_file()
    changes = []
    for entry in read_org(path):
        dept = db.session.scalar(sa.select(Department).where(Department.code == entry["code"]))
        if dept is None:
            dept = Department(code=entry["code"], name=entry["name"])
            db.session.add(dept)
            changes.append(f"+ {entry['name']}")
        dept.name, dept.name_en = entry["name"], entry.get("name_en", "")
        db.session.flush()
        for name in entry.get("positions") or []:
            pos = db.session.scalar(sa.select(Position).where(Position.name == name))
            if pos is None:
                db.session.add(Position(name=name, department=dept))
                changes.append(f"+ {entry['name']}/{name}")
            else:
                pos.department = dept
    db.session.flush()
    return changes


def read_org(path: Path) -> list[dict]:
    """The departments of org.yaml, checked before anything is written; OrgError(path, line, reason) otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
        data = safeyaml.load(text) or {}
    except (OSError, UnicodeDecodeError) as e:
        raise OrgError(path, 1, f"cannot be read ({e})") from e
    except yaml.YAMLError as e:
        raise OrgError(path, safeyaml.error_line(e), f"not valid YAML: {safeyaml.error_reason(e)}") from None
    entries = data.get("departments") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise OrgError(path, 1, "the file must hold 'departments:' followed by a list")
    for entry in entries:
        ok = isinstance(entry, dict) and all(isinstance(entry.get(k), str) and entry[k] for k in ("code", "name")) \
            and isinstance(entry.get("name_en", ""), str)
        positions = (entry.get("positions") or []) if isinstance(entry, dict) else []
        if not ok or not isinstance(positions, list) or not all(isinstance(p, str) for p in positions):
            code = entry.get("code") if isinstance(entry, dict) else entry
            line = next((n for n, t in enumerate(text.split("\n"), 1) if str(code) in t), 1)
            raise OrgError(path, line, "each department needs a code, a name and a list of position names")
    return entries


def departments() -> list[Department]:
    return list(db.session.scalars(sa.select(Department).order_by(Department.id)))


def department_by_name(name: str) -> Department | None:
    return db.session.scalar(sa.select(Department).where(sa.or_(Department.name == name, Department.code == name)))


def positions_by_name(names) -> dict[str, Position]:
    return {p.name: p for p in db.session.scalars(sa.select(Position).where(Position.name.in_(list(names))))}
