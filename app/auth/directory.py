"""The company directory (OpenLDAP or Active Directory) through ldap3: find the person with the service account,
then bind as them with their password. Knows no database: app.auth.service turns the answer into a User.

Settings are the LDAP_* ones in app/config.py; docs/ldap.md explains them.
"""
import ssl
import warnings
from dataclasses import dataclass

from flask import current_app

with warnings.catch_warnings():  # ldap3 2.9.1 imports pyasn1's old names (tagMap …), deprecated since pyasn1 0.6.1
    warnings.simplefilter("ignore", DeprecationWarning)
    import ldap3
    from ldap3.core.exceptions import LDAPException
    from ldap3.utils.conv import escape_filter_chars

ROLE_RANK = {"staff": 0, "manager": 1, "admin": 2}
# Refusals that say the directory no longer lets this person in: the portal's own account is deactivated too.
# A wrong password says nothing about the account.
GONE = ("unknown user", "outside allowed groups", "in a disabled group")


class DirectoryUnavailable(Exception):
    """The directory did not answer, not in time, refused TLS or the service account: nobody can be checked."""


@dataclass(frozen=True)
class Person:
    dn: str
    username: str
    display_name: str
    email: str
    department: str
    positions: tuple[str, ...]
    role: str


@dataclass(frozen=True)
class Verdict:
    """The directory's answer to a login: a person, and why they are refused ("" when they are not)."""
    person: Person | None
    refused: str = ""


class ContextTls(ldap3.Tls):
    """TLS through a standard SSLContext that checks the certificate and the host name itself.

    ldap3 turns the context's host-name check off and calls ssl.match_hostname(), which is deprecated (and gone
    in Python 3.12)."""

    def __init__(self, context: ssl.SSLContext):
        super().__init__(validate=ssl.CERT_REQUIRED)
        self.context = context

    def wrap_socket(self, connection, do_handshake=False):
        connection.socket = self.context.wrap_socket(connection.socket, server_hostname=connection.server.host,
                                                     do_handshake_on_connect=do_handshake)


def enabled() -> bool:
    return bool(current_app.config.get("LDAP_URL"))


def server() -> ldap3.Server:
    cfg = current_app.config
    url = cfg["LDAP_URL"]
    tls = None
    if url.lower().startswith("ldaps://") or cfg["LDAP_START_TLS"]:
        tls = ContextTls(ssl.create_default_context(cafile=cfg["LDAP_CA_FILE"] or None))
    return ldap3.Server(url, tls=tls, connect_timeout=cfg["LDAP_TIMEOUT"], get_info=ldap3.NONE)


def bind(dn: str | None, password: str | None) -> ldap3.Connection | None:
    """An open connection bound as dn (anonymous when dn is empty), after StartTLS when configured; None when the
    directory refuses these credentials. DirectoryUnavailable when it cannot be asked."""
    conn = ldap3.Connection(server(), dn or None, password or None, receive_timeout=current_app.config["LDAP_TIMEOUT"],
                            auto_referrals=False, read_only=True, raise_exceptions=False)
    try:
        conn.open()
        if current_app.config["LDAP_START_TLS"] and not conn.server.ssl:
            conn.start_tls()  # raises when the server refuses it or its certificate does not check out
        if conn.bind():
            return conn
    except LDAPException as e:
        close(conn)
        raise DirectoryUnavailable(f"{type(e).__name__}: {e}") from e
    close(conn)
    return None


def close(conn: ldap3.Connection) -> None:
    try:
        conn.unbind()
    except LDAPException:
        pass
    if conn.socket is not None:  # ldap3 leaves the socket of a failed open behind
        conn.socket.close()


def values(attributes, name: str) -> list[str]:
    if not name:
        return []
    value = attributes.get(name)
    if value is None:
        return []
    return [str(v) for v in (value if isinstance(value, list) else [value]) if str(v).strip()]


def first(attributes, name: str) -> str:
    found = values(attributes, name)
    return found[0].strip() if found else ""


def role_for(groups: set[str]) -> str:
    """The highest role any of the person's groups maps to (LDAP_GROUP_ROLES); staff otherwise."""
    mapped = [role for dn, role in current_app.config["LDAP_GROUP_ROLES"].items() if dn.lower() in groups]
    return max(mapped, key=ROLE_RANK.__getitem__, default="staff")


def refusal(groups: set[str]) -> str:
    cfg = current_app.config
    if {g.lower() for g in cfg["LDAP_DISABLED_GROUPS"]} & groups:
        return "in a disabled group"
    allowed = {g.lower() for g in cfg["LDAP_ALLOWED_GROUPS"]}
    if allowed and not allowed & groups:
        return "outside allowed groups"
    return ""


def check(username: str, password: str) -> Verdict:
    """Ask the directory whether username may log in with password.

    An empty password is refused here: many directories take a simple bind without one as an anonymous bind
    that succeeds."""
    if not password:
        return Verdict(None, "empty password")
    verdict = lookup(username)
    if verdict.refused:
        return verdict
    user = bind(verdict.person.dn, password)
    if user is None:
        return Verdict(verdict.person, "wrong password")
    close(user)
    return verdict


def lookup(username: str) -> Verdict:
    """Find the person with the service account, with their attributes, role and whether their groups let them
    in; no password is checked. The username is escaped into LDAP_USER_FILTER, so `*)(uid=*` finds nobody."""
    cfg = current_app.config
    username = (username or "").strip()
    if not username:
        return Verdict(None, "unknown user")
    service = bind(cfg["LDAP_BIND_DN"], cfg["LDAP_BIND_PASSWORD"])
    if service is None:
        raise DirectoryUnavailable("the directory refused the service account (LDAP_BIND_DN)")
    try:
        attrs = [cfg[k] for k in ("LDAP_ATTR_USERNAME", "LDAP_ATTR_NAME", "LDAP_ATTR_EMAIL", "LDAP_ATTR_DEPARTMENT",
                                  "LDAP_ATTR_POSITIONS", "LDAP_GROUP_ATTR") if cfg[k]] + ["cn"]
        found = search(service, cfg["LDAP_BASE"], cfg["LDAP_USER_FILTER"].format(username=escape_filter_chars(username)),
                       attrs, limit=2)
        if len(found) != 1:
            return Verdict(None, "unknown user" if not found else "several entries match")
        dn, entry = found[0]
        groups = {g.lower() for g in values(entry, cfg["LDAP_GROUP_ATTR"])}
        if cfg["LDAP_GROUP_FILTER"]:
            flt = cfg["LDAP_GROUP_FILTER"].format(dn=escape_filter_chars(dn), username=escape_filter_chars(username))
            groups |= {g.lower() for g, _attrs in search(service, cfg["LDAP_GROUP_BASE"] or cfg["LDAP_BASE"], flt, [])}
    finally:
        close(service)
    person = Person(
        dn=dn, username=(first(entry, cfg["LDAP_ATTR_USERNAME"]) or username)[:64],
        display_name=(first(entry, cfg["LDAP_ATTR_NAME"]) or first(entry, "cn") or username)[:128],
        email=first(entry, cfg["LDAP_ATTR_EMAIL"])[:254], department=first(entry, cfg["LDAP_ATTR_DEPARTMENT"]),
        positions=tuple(values(entry, cfg["LDAP_ATTR_POSITIONS"])), role=role_for(groups),
    )
    return Verdict(person, refusal(groups))


def search(conn: ldap3.Connection, base: str, flt: str, attributes: list[str], limit: int = 0) -> list[tuple[str, dict]]:
    """(dn, attributes) of the entries found; DirectoryUnavailable when the search itself fails."""
    conn.search(base, flt, ldap3.SUBTREE, attributes=attributes or ldap3.NO_ATTRIBUTES, size_limit=limit)
    if conn.result["result"] not in (0, 4):  # 4: size limit exceeded, which `limit` asked for
        raise DirectoryUnavailable(f"search in {base!r} failed: {conn.result['description']} {conn.result['message']}")
    return [(r["dn"], r["attributes"]) for r in conn.response or () if r["type"] == "searchResEntry"]
