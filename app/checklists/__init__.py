"""Checklists and onboarding: templates from content/checklists, runs that remember who ticked what."""
from flask import Blueprint

from app.auth.service import user_created

bp = Blueprint("checklists", __name__, cli_group="checklists")


@user_created.connect
def start_onboarding_plans(app, user, **_extra):
    """A user created with a start date and a position starts the matching onboarding plans."""
    from app.checklists.runs import start_onboarding

    start_onboarding(user)


from app.checklists import cli, sync, todo, views  # noqa: E402,F401
