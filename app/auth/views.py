"""Login, logout, own account, and the admin's user list."""
from flask import current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from flask_login import current_user, logout_user

from app import audit
from app.access import allow
from app.auth import bp
from app.auth.forms import LoginForm, PasswordForm, UserCreateForm, UserEditForm
from app.auth.models import User
from app.auth.service import AccountError, UserData, authenticate, change_password, create_user, filter_users, sign_in, update_user
from app.extensions import LOCALES, db, limiter, login_manager, read_only
from app.htmx import is_htmx, redirect_htmx, render
from app.org import departments
from app.web import local_path


@login_manager.user_loader
def load_user(token: str):
    """A session is valid while its session version matches the user's (logout elsewhere bumps it)."""
    user_id, _sep, version = token.partition(":")
    if not user_id.isdigit() or not version.isdigit():
        return None
    with read_only():  # a POST must not take SQLite's write lock just to find out who is asking
        user = db.session.get(User, int(user_id))
    if user is None or not user.active or user.session_version != int(version):
        return None
    return user


@login_manager.unauthorized_handler
def unauthorized():
    """Plain requests go to the login page; htmx requests are told to send the browser there."""
    if request.path.startswith("/api/"):
        return jsonify(error="login required"), 401
    target = url_for("auth.login", next=request.full_path.rstrip("?") if request.method == "GET" else None)
    flash(_("Please log in to continue."), "info")
    if is_htmx():
        return redirect_htmx(url_for("auth.login"), 401)
    return redirect(target)


def safe_next(url: str | None) -> str:
    return local_path(url, url_for("sops.home"))


def login_account_key() -> str:
    """Attempts are counted per (account, address): guessing from one address never locks the owner out of
    their account from another. The per-address limit bounds guessing across accounts."""
    return "account:" + (request.form.get("username") or "").strip().lower() + "@" + get_remote_address()


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_IP"], methods=["POST"])
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_ACCOUNT"], key_func=login_account_key, methods=["POST"])
@allow("public")
def login():
    """Log in with username and password."""
    form = LoginForm()
    if current_user.is_authenticated and request.method == "GET":
        return redirect(safe_next(request.args.get("next")))
    error = None
    if form.validate_on_submit():
        try:
            user = authenticate(form.username.data, form.password.data)
        except AccountError as e:
            db.session.commit()  # keep the audit entry for the failure (and a deactivation the directory caused)
            error, status = e.message(), 503 if e.status == 503 else 401
        else:
            sign_in(user)
            db.session.commit()
            return redirect(safe_next(request.args.get("next")), 303)
    if not error:
        status = 422 if form.errors else 200
    return render_template("auth/login.html", form=form, error=error), status


@bp.post("/logout")
@allow("staff")
def logout():
    """Log out everywhere: the session version moves on, so every other cookie stops working too."""
    user = current_user._get_current_object()
    user.end_sessions()
    audit.record("logout", f"user:{user.username}", actor=user)
    db.session.commit()
    logout_user()
    flash(_("You have been logged out on every device."), "info")
    return redirect(url_for("auth.login"), 303)


@bp.route("/account/password", methods=["GET", "POST"])
@allow("staff")
def password():
    """Change one's own password; other sessions end."""
    form = PasswordForm()
    error = None
    if form.validate_on_submit():
        try:
            change_password(current_user, form.current.data, form.new.data, form.confirm.data)
        except AccountError as e:
            db.session.commit()
            error = e.message()
        else:
            db.session.commit()
            sign_in(current_user._get_current_object())  # renew this session with the new version
            db.session.commit()
            flash(_("Password changed. Other sessions have been logged out."), "success")
            return redirect(url_for("sops.home"), 303)
    return render_template("auth/password.html", form=form, error=error), 422 if (error or form.errors) else 200


@bp.post("/language")
@allow("public")
def language():
    """Choose the UI language; saved on the account and in a cookie."""
    lang = request.form.get("lang", "zh")
    if lang not in LOCALES:
        lang = "zh"
    if current_user.is_authenticated:
        current_user.locale = lang
        db.session.commit()
    resp = redirect(safe_next(request.form.get("next")), 303)
    # Same flags as the session cookie: Secure when it is (HTTPS), HttpOnly (no script reads it), SameSite.
    resp.set_cookie("lang", lang, max_age=365 * 24 * 3600, secure=current_app.config["SESSION_COOKIE_SECURE"],
                    httponly=True, samesite=current_app.config["SESSION_COOKIE_SAMESITE"] or "Lax")
    return resp


@bp.get("/admin/users")
@allow("admin")
def users():
    """List users, filtered by text, department, role and active flag (htmx swaps the rows)."""
    args = {k: request.args.get(k, "") for k in ("q", "department", "role", "active")}
    return render("auth/users.html", "auth/_user_rows.html", users=filter_users(**args), args=args,
                  departments=departments())


def get_user(user_id: int) -> User:
    return db.get_or_404(User, user_id)


@bp.route("/admin/users/<int:user_id>/edit", methods=["GET", "POST"])
@allow("admin")
def edit_user(user_id: int):
    """Edit department, positions, role and active flag; inline in the list with htmx."""
    user = get_user(user_id)
    form = UserEditForm(obj=None if request.method == "POST" else user).fill_choices(str(get_locale()))
    if request.method == "GET":
        form.department.data = user.department.name if user.department else ""
        form.positions.data = user.position_names
    error = None
    if form.validate_on_submit():
        try:
            update_user(user, current_user, form.department.data, form.positions.data or [], form.role.data,
                        form.active.data)
        except AccountError as e:
            db.session.rollback()
            error = e.message()
        else:
            db.session.commit()
            if is_htmx():
                return render_template("auth/_user_row.html", user=user)
            flash(_("Saved %(name)s.", name=user.display_name), "success")
            return redirect(url_for("auth.users"), 303)
    status = 422 if (error or form.errors) else 200
    return render("auth/user_edit.html", "auth/_user_form.html", status=status, form=form, user=user, error=error)


@bp.route("/admin/users/new", methods=["GET", "POST"])
@allow("admin")
def new_user():
    """Create one user. Submitting the same form twice is refused with a message, not a second user."""
    form = UserCreateForm().fill_choices(str(get_locale()))
    error = None
    if form.validate_on_submit():
        data = UserData(
            username=form.username.data.strip(), display_name=form.display_name.data.strip(),
            email=(form.email.data or "").strip(), department=form.department.data or "",
            positions=tuple(form.positions.data or ()), role=form.role.data, start_date=form.start_date.data,
            password=form.password.data,
        )
        try:
            user, _pw = create_user(data, actor=current_user)
        except AccountError as e:
            db.session.rollback()
            error = e.message()
        else:
            db.session.commit()
            flash(_("Created %(name)s.", name=user.display_name), "success")
            return redirect(url_for("auth.users"), 303)
    return render_template("auth/user_new.html", form=form, error=error), 422 if (error or form.errors) else 200
