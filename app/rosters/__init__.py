"""Duty rosters: teams and shift types (content/rosters/teams.yaml), grids, the generator, swaps, on duty
now, handovers with open items, iCalendar feeds and month files."""
from flask import Blueprint

bp = Blueprint("rosters", __name__, cli_group="rosters")

from app.rosters import cli, feeds, handovers, teams, todo, views  # noqa: E402,F401
