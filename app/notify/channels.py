"""Posting to a group robot: the address check, the message body and DingTalk's signature. No database here."""
import base64
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from ipaddress import ip_address
from urllib.parse import quote_plus, urlsplit

from app.errors import N_

MAX_URL = 500
MAX_CONTENT = 1500  # characters; both vendors cap a text message at about 2,000 bytes and ours are short
LOOPBACK_NAMES = {"localhost"}


def loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def url_problem(url: str) -> str | None:
    """Why this webhook address cannot be used (an English msgid, translated by the page), or None. https anywhere;
    http only on this machine (tests, a local relay): a robot's key must not cross the network in clear text."""
    if not url or len(url) > MAX_URL:
        return N_("Enter the robot's webhook address (at most 500 characters).")
    if any(c.isspace() or ord(c) < 32 for c in url):
        return N_("The webhook address must not contain spaces or line breaks.")
    try:
        parts = urlsplit(url)
        host, _port = parts.hostname, parts.port  # a bad port raises here
    except ValueError:
        return N_("This is not a web address.")
    if parts.scheme not in ("https", "http") or not host:
        return N_("The webhook address must start with https:// and name a host.")
    if parts.scheme == "http" and not loopback(host):
        return N_("The webhook address must use https:// (http:// only on this machine).")
    return None


def body(content: str) -> bytes:
    """The text message both vendors take: {"msgtype": "text", "text": {"content": …}}."""
    return json.dumps({"msgtype": "text", "text": {"content": content[:MAX_CONTENT]}}, ensure_ascii=False).encode()


def signed(url: str, secret: str, now_ms: int | None = None) -> str:
    """DingTalk 加签: HMAC-SHA256 of "timestamp\\nsecret" keyed by the secret, base64, appended to the address."""
    timestamp = str(now_ms if now_ms is not None else int(time.time() * 1000))
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    sign = quote_plus(base64.b64encode(digest))
    return f"{url}{'&' if '?' in url else '?'}timestamp={timestamp}&sign={sign}"


class SendError(Exception):
    """The robot did not take the message: one short line, without the address (it holds the key)."""


def post(vendor: str, url: str, secret: str, content: str, timeout: float) -> None:
    """POST one text message; raise SendError unless the robot answers 2xx with errcode 0 (or no errcode)."""
    problem = url_problem(url)
    if problem:
        raise SendError(f"bad address: {problem}")
    target = signed(url, secret) if vendor == "dingtalk" and secret else url
    req = urllib.request.Request(target, data=body(content), method="POST",
                                 headers={"Content-Type": "application/json; charset=utf-8"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (scheme checked above)
            answer = resp.read(4096)
    except urllib.error.HTTPError as e:
        raise SendError(f"HTTP {e.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as e:  # refused, timed out, unresolvable
        reason = getattr(e, "reason", e)
        raise SendError(f"{type(reason).__name__}: {reason}"[:200]) from None
    try:
        data = json.loads(answer or b"{}")
    except ValueError:
        return  # a 2xx without JSON: a relay that accepted it
    if isinstance(data, dict) and data.get("errcode", 0) != 0:
        raise SendError(f"errcode {data.get('errcode')}: {str(data.get('errmsg', ''))[:150]}")
