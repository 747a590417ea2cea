"""Document control: drafts, the editor, Word import, review and approval signatures, publication,
periodic review, retirement and reader feedback. Above sops and auth, beside acks."""
from flask import Blueprint

bp = Blueprint("authoring", __name__, cli_group="authoring")

from app.authoring import cli, importing, integrity, models, periodic, views  # noqa: E402,F401
