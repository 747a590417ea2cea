"""Who may write, review and approve a department's SOPs. One place answers; views and services ask it."""
import sqlalchemy as sa
from flask import current_app

from app.auth.models import User
from app.authoring.models import Draft, EditorGrant
from app.errors import UserError
from app.extensions import db
from app.org import Department, Position
from app.frontmatter import ContentError, load_front_matter, split_front_matter
from app.sops.models import Sop


class AuthoringError(UserError):
    """A refused step of document control; `status` is the HTTP status the page answers with."""
    status = 409


def is_admin(user) -> bool:
    return getattr(user, "role", None) == "admin"


def is_manager_of(user, department: Department) -> bool:
    return user.role == "manager" and user.department_id == department.id and user.active


def owner_of(sop: Sop | None) -> str:
    """The `owner:` username of the SOP's current revision ('' when none)."""
    if sop is None or sop.current is None:
        return ""
    return sop.current.meta.get("owner") or ""


def can_author(user, department: Department, sop: Sop | None = None) -> bool:
    """Admins; the SOP's owner; an editor granted the department; a manager of the department."""
    if not getattr(user, "is_authenticated", False) or not user.active:
        return False
    if is_admin(user) or is_manager_of(user, department):
        return True
    if sop is not None and owner_of(sop) == user.username:
        return True
    return db.session.scalar(sa.select(EditorGrant.id).where(
        EditorGrant.user_id == user.id, EditorGrant.department_id == department.id)) is not None


def draft_meta(draft: Draft) -> dict:
    """The draft's front matter as far as it parses (a draft may be half-written)."""
    try:
        meta = load_front_matter(split_front_matter(draft.text.replace("\r\n", "\n"))[0])
    except ContentError:
        return {}
    return meta if isinstance(meta, dict) else {}


def named(names) -> list[User]:
    """Active users named by username or by position."""
    if isinstance(names, str):
        names = [names]
    names = [str(n).strip() for n in names or [] if str(n).strip()]
    if not names:
        return []
    by_position = sa.select(User.id).join(User.positions).where(Position.name.in_(names))
    return list(db.session.scalars(sa.select(User).where(
        User.active.is_(True), sa.or_(User.username.in_(names), User.id.in_(by_position))).order_by(User.id)))


def managers(department: Department) -> list[User]:
    return list(db.session.scalars(sa.select(User).where(
        User.role == "manager", User.department_id == department.id, User.active.is_(True)).order_by(User.id)))


def signers(draft: Draft, key: str) -> list[User]:
    """Who front matter names under `key` (reviewers/approvers), else the department's managers."""
    return named(draft_meta(draft).get(key)) or managers(draft.department)


def reviewers(draft: Draft) -> list[User]:
    """Who may review (审核) this draft. Admins always may, besides."""
    return signers(draft, "reviewers")


def approvers(draft: Draft) -> list[User]:
    """Who may approve (批准发布) this draft. Admins always may, besides."""
    return signers(draft, "approvers")


def check_signer(draft: Draft, user, key: str) -> bool:
    """Refuse (403) anyone who may not sign this step; return True when it is the author signing their own
    draft under AUTHORING_ALLOW_SELF_APPROVAL (the signature records it)."""
    allowed = signers(draft, key)
    if not (is_admin(user) or user.id in {u.id for u in allowed}):
        raise AuthoringError("You are not a reviewer or approver of %(dept)s drafts.", 403,
                             dept=draft.department.name)
    if user.id != draft.author_id:
        return False
    others = [u for u in allowed if u.id != user.id]
    if current_app.config["AUTHORING_ALLOW_SELF_APPROVAL"] and not others:
        return True
    raise AuthoringError("You wrote this draft; someone else must review and approve it.", 403)


def can_view(user, draft: Draft) -> bool:
    """The author, the department's authors, its reviewers and approvers, and admins see a draft."""
    if is_admin(user) or user.id == draft.author_id or can_author(user, draft.department, draft.sop):
        return True
    return user.id in {u.id for u in reviewers(draft) + approvers(draft)}


def get_draft(draft_id: int, user) -> Draft:
    """The draft, or 404 when unknown and 403 when this user has nothing to do with it."""
    draft = db.session.get(Draft, draft_id)
    if draft is None:
        raise AuthoringError("There is no such draft.", 404)
    if not can_view(user, draft):
        raise AuthoringError("This draft belongs to another department.", 403)
    return draft


def editor_grant(admin, user: User, department: Department) -> EditorGrant | None:
    """The user's grant for the department, if any; only an admin may ask (to grant or revoke)."""
    if not is_admin(admin):
        raise AuthoringError("Only an administrator can grant editors.", 403)
    return db.session.scalar(sa.select(EditorGrant).where(
        EditorGrant.user_id == user.id, EditorGrant.department_id == department.id))


def grant_editor(admin, user: User, department: Department) -> EditorGrant:
    """An admin lets `user` write drafts of the department's SOPs (audited). Granting twice is harmless."""
    from app import audit
    from app.clock import utcnow

    grant = editor_grant(admin, user, department)
    if grant is None:
        grant = EditorGrant(user_id=user.id, department_id=department.id, granted_by_id=admin.id, granted_at=utcnow())
        db.session.add(grant)
        db.session.flush()
        audit.record("doc.editor_grant", f"user:{user.username}", {"department": department.name}, actor=admin)
    return grant


def revoke_editor(admin, user: User, department: Department) -> None:
    from app import audit

    grant = editor_grant(admin, user, department)
    if grant is not None:
        db.session.delete(grant)
        audit.record("doc.editor_revoke", f"user:{user.username}", {"department": department.name}, actor=admin)


def editors(department: Department) -> list[EditorGrant]:
    return list(db.session.scalars(sa.select(EditorGrant).where(EditorGrant.department_id == department.id)
                                   .order_by(EditorGrant.id)))
