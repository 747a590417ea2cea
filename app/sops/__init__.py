"""SOP library: content loader, revisions, rendering, diff and SOP pages."""
from flask import Blueprint

bp = Blueprint("sops", __name__, cli_group="sops")

from app.sops import cli, views  # noqa: E402,F401
