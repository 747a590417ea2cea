"""What every CSV or XLSX export shares. Knows no feature."""


def cell(value) -> str:
    """Text a spreadsheet will not run as a formula (a name such as '=HYPERLINK(…)' stays text)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
