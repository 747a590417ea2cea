"""Accounts: login, logout, users, roles; departments and positions come from app.org."""
from flask import Blueprint

bp = Blueprint("auth", __name__, cli_group="users")

from app.auth import cli, views  # noqa: E402,F401

