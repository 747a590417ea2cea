"""Required reading, read receipts, acknowledgements (signatures), reports, exports and reminders."""
from flask import Blueprint

bp = Blueprint("acks", __name__, cli_group="acks")

from app.acks import audience, cli, events, integrity, todo, views  # noqa: E402,F401
