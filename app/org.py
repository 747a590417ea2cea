"""Departments and positions (岗位), loaded from content/org.yaml. Knows no feature."""
from pathlib import Path

import sqlalchemy as sa
import yaml
from flask import current_app
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db


class Department(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(16), unique=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)  # 前厅部
    name_en: Mapped[str] = mapped_column(sa.String(64), default="")
    positions: Mapped[list["Position"]] = relationship(back_populates="department", order_by="Position.id")

    def label(self, locale: str) -> str:
        return self.name_en if locale == "en" and self.name_en else self.name


class Position(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)  # 夜审员
    department_id: Mapped[int] = mapped_column(sa.ForeignKey("department.id"))
    department: Mapped[Department] = relationship(back_populates="positions")


class OrgError(ValueError):
    pass


def org_file() -> Path:
    return Path(current_app.config["CONTENT_DIR"]) / "org.yaml"


def sync_org(path: Path | None = None) -> list[str]:
    """Upsert departments and positions from org.yaml. Nothing is deleted: people and SOPs point at them."""
    path = path or org_file()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise OrgError(f"{path}: {e}") from e
    changes = []
    for entry in data.get("departments") or []:
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


def departments() -> list[Department]:
    return list(db.session.scalars(sa.select(Department).order_by(Department.id)))


def department_by_name(name: str) -> Department | None:
    return db.session.scalar(sa.select(Department).where(sa.or_(Department.name == name, Department.code == name)))


def positions_by_name(names) -> dict[str, Position]:
    return {p.name: p for p in db.session.scalars(sa.select(Position).where(Position.name.in_(list(names))))}
