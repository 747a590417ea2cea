"""The one clock for stored times: timezone-aware UTC. Knows no feature."""
from datetime import datetime, timezone


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
