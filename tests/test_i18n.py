"""The UI is Chinese by default with English available; the Chinese catalog must be complete."""
import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from tests.conftest import ROOT

PO = ROOT / "translations" / "zh" / "LC_MESSAGES" / "messages.po"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None, "AccountError": None, "SignError": None, "RunError": None, "RosterError": None, "WordImportError": None, "AuthoringError": None, "DraftConflict": None}
METHODS = [("**.py", "python"), ("**.html", "jinja2"), ("**.txt", "jinja2")]


def catalog():
    with PO.open("rb") as f:
        return read_po(f)


def ui_strings() -> set[str]:
    found = set()
    for folder in ("app", "templates"):
        for _file, _line, message, _comments, _ctx in extract_from_dir(ROOT / folder, METHODS, keywords=KEYWORDS):
            found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_ui_string_has_a_chinese_translation():
    translated = {m.id: m.string for m in catalog() if m.id}
    missing = sorted(s for s in ui_strings() if not translated.get(s))
    assert missing == [], "run `make messages` and translate these in messages.po"


def test_placeholders_survive_translation():
    for m in catalog():
        if m.id:
            assert set(re.findall(r"%\(\w+\)s", m.id)) == set(re.findall(r"%\(\w+\)s", m.string)), m.id


def test_chinese_by_default_english_on_request(client, auth):
    auth.login("fo.staff")
    zh = client.get("/").get_data(as_text=True)
    assert '<html lang="zh-CN">' in zh and "首页" in zh and "退出登录" in zh
    auth.post("/language", {"lang": "en", "next": "/"})
    en = client.get("/").get_data(as_text=True)
    assert '<html lang="en">' in en and ">Home<" in en and "Log out" in en


def test_anonymous_visitor_can_choose_english(client, auth):
    r = client.post("/language", data={"lang": "en", "next": "/login", "csrf_token": auth.token()})
    assert r.status_code == 303 and "lang=en" in r.headers["Set-Cookie"]
    assert "Log in" in client.get("/login").get_data(as_text=True)
