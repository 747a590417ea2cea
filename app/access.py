"""Who may use each route. Every view declares it with @allow; an undeclared view is refused.

Roles are ranked: staff < manager < admin. "public" needs no login.
"""
from functools import wraps

from flask import abort, current_app, request
from flask_login import current_user

from app.extensions import login_manager

ROLES = ("staff", "manager", "admin")
RANK = {role: n for n, role in enumerate(ROLES, start=1)}


def allow(minimum: str):
    """Declare the lowest role that may call this view ("public", "staff", "manager", "admin")."""
    if minimum != "public" and minimum not in RANK:
        raise ValueError(f"unknown role {minimum!r}")

    def decorate(view):
        view.allowed = minimum
        return view

    return decorate


def has_role(user, minimum: str) -> bool:
    return minimum == "public" or (user.is_authenticated and RANK.get(user.role, 0) >= RANK[minimum])


def check_access():
    """before_request: enforce the view's declaration; fail closed when it has none."""
    if request.endpoint is None:
        return None  # 404 follows
    view = current_app.view_functions[request.endpoint]
    minimum = getattr(view, "allowed", None)
    if request.endpoint == "static":
        minimum = "public"
    if minimum is None:
        abort(403)
    if minimum == "public":
        return None
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not has_role(current_user, minimum):
        abort(403)
    return None


def requires(minimum: str):
    """For checks inside a view (e.g. a manager-only button); same rule as @allow."""

    def decorate(fn):
        @wraps(fn)
        def wrapper(*args, **kwargs):
            if not has_role(current_user, minimum):
                abort(403)
            return fn(*args, **kwargs)

        return wrapper

    return decorate
