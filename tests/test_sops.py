"""SOP content: sync, validation, rendering, pages, diff and attachments."""
import re
import shutil
from html.parser import HTMLParser
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.sops import sync as sync_mod
from app.sops.models import Sop, SopRevision
from app.sops.sync import sync
from tests.conftest import ROOT, THREE_WAYS, page_or_fragment

FRONT = """---
id: {id}
title: 测试规程
department: 前厅部
tags: [测试]
version: "1.0"
effective: 2026-01-01
review_by: 2027-01-01
change: material
---
## 第一节

正文。
"""


@pytest.fixture
def content(empty_app, tmp_path):
    """A private copy of the demo content, synced into an empty database. Without teams.yaml: its members
    are demo users, which this database lacks, so the file would be reported as skipped."""
    root = tmp_path / "content"
    shutil.copytree(ROOT / "content", root)
    (root / "rosters" / "teams.yaml").unlink()
    empty_app.config.update(SOP_DIR=str(root / "sops"), CONTENT_DIR=str(root))
    return root / "sops"


def write(root: Path, rel: str, text: str | bytes) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def counts():
    return (db.session.scalar(sa.select(sa.func.count()).select_from(Sop)),
            db.session.scalar(sa.select(sa.func.count()).select_from(SopRevision)))


def test_sync_creates_revisions_and_second_run_changes_nothing(content):
    first = sync()
    db.session.commit()
    n_sops, n_revs = counts()
    assert len(first.created) == n_sops == n_revs >= 15 and not first.errors
    again = sync()
    db.session.commit()
    assert again.created == again.revised == again.retired == [] and again.unchanged == n_sops
    assert counts() == (n_sops, n_revs)


def test_changed_file_makes_a_new_revision_and_revert_reuses_the_old_one(content):
    sync(); db.session.commit()
    path = content / "front-office" / "check-in.md"
    original = path.read_text()
    path.write_text(original.replace("## ", "## 修订后 ", 1))
    report = sync(); db.session.commit()
    sop = db.session.scalar(sa.select(Sop).where(Sop.code == "FO-CI-001"))
    assert report.revised == ["FO-CI-001"] and sop.current.number == 2
    path.write_text(original)
    sync(); db.session.commit()
    assert sop.current.number == 1 and len(sop.revisions) == 2


BAD_FILES = {
    "malformed": ("---\nid: FO-X-001\ntitle: [不闭合\n---\n正文\n", 3, "not valid YAML"),
    "no front matter": ("## 只有正文\n", 1, "no front matter"),
    "unknown change": (FRONT.format(id="FO-X-002").replace("change: material", "change: huge"), 9, "change must be"),
    "dates in wrong order": (FRONT.format(id="FO-X-003").replace("review_by: 2027-01-01", "review_by: 2025-01-01"),
                             8, "must be after effective"),
    "unknown department": (FRONT.format(id="FO-X-004").replace("前厅部", "后厨部"), 4, "unknown department"),
    "unquoted version": (FRONT.format(id="FO-X-005").replace('"1.0"', "1.0"), 6, "version must be quoted"),
    "unknown field": (FRONT.format(id="FO-X-006").replace("tags:", "tagz:"), 5, "unknown field 'tagz'"),
    "attachment outside": (FRONT.format(id="FO-X-007").replace("change: material", "change: material\nattachments: [../../org.yaml]"),
                           10, "no '..'"),
    "missing attachment": (FRONT.format(id="FO-X-008").replace("change: material", "change: material\nattachments: [表.xlsx]"),
                           10, "is missing"),
    "non-UTF-8": (FRONT.format(id="FO-X-009").encode("utf-8").replace("正文".encode(), "正文".encode("gbk")), 13, "not UTF-8"),
    "5 MB": (FRONT.format(id="FO-X-010") + "很长的文字。" * 300_000, 1, "the limit is 1.0 MB"),
    "empty body": (FRONT.format(id="FO-X-011").split("## 第一节")[0], 11, "no text below"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_file_is_reported_with_line_and_skipped(content, case):
    text, line, reason = BAD_FILES[case]
    write(content, "front-office/zz-bad.md", text)
    report = sync(); db.session.commit()
    assert len(report.errors) == 1, report.errors
    assert f"zz-bad.md:{line}: " in report.errors[0] and reason in report.errors[0]
    assert len(report.created) >= 15  # everything else still loaded


def test_duplicate_id_keeps_the_known_file_and_reports_the_other(content):
    sync(); db.session.commit()
    write(content, "finance/aa-copy.md", FRONT.format(id="FO-NA-001"))
    report = sync(); db.session.commit()
    assert len(report.errors) == 1 and "aa-copy.md:2: duplicate id 'FO-NA-001'" in report.errors[0]
    sop = db.session.scalar(sa.select(Sop).where(Sop.code == "FO-NA-001"))
    assert sop.path == "front-office/night-audit.md" and sop.current.title == "夜审操作规程"


def test_removed_file_retires_without_deleting_revisions_and_returns(content):
    sync(); db.session.commit()
    path = content / "finance" / "petty-cash.md"
    text = path.read_text()
    path.unlink()
    report = sync(); db.session.commit()
    sop = db.session.scalar(sa.select(Sop).where(Sop.code == "FIN-PC-001"))
    assert report.retired == ["FIN-PC-001"] and sop.retired_at is not None and len(sop.revisions) == 1
    path.write_text(text)
    sync(); db.session.commit()
    assert sop.retired_at is None and len(sop.revisions) == 1


def test_a_file_turned_invalid_keeps_its_sop_and_last_good_revision(content):
    sync(); db.session.commit()
    path = content / "finance" / "petty-cash.md"
    path.write_text(path.read_text().replace("change: ", "change: bogus #", 1))
    report = sync(); db.session.commit()
    sop = db.session.scalar(sa.select(Sop).where(Sop.code == "FIN-PC-001"))
    assert report.retired == [] and sop.retired_at is None and sop.current.number == 1 and report.errors


def test_unique_constraint_refuses_a_duplicate_revision(content):
    sync(); db.session.commit()
    rev = db.session.scalar(sa.select(SopRevision).limit(1))
    clone = SopRevision(**{c.key: getattr(rev, c.key) for c in SopRevision.__table__.columns if c.key not in ("id", "number")},
                        number=99)
    db.session.add(clone)
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_two_syncs_at_once_do_not_duplicate(content, empty_app):
    """Two threads sync the same new content at the same time; each SOP ends with exactly one revision."""
    barrier, errors = threading.Barrier(2), []

    def run():
        with empty_app.app_context():
            try:
                barrier.wait()
                sync()
                db.session.commit()
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    n_sops, n_revs = counts()
    assert not errors and n_sops == n_revs >= 15
    dupes = db.session.execute(sa.select(SopRevision.sop_id).group_by(SopRevision.sop_id, SopRevision.content_hash)
                               .having(sa.func.count() > 1)).all()
    assert dupes == []


def test_revision_is_rendered_once_and_served_from_cache(client, auth, monkeypatch):
    auth.login("fo.staff")

    def boom(*a, **k):
        raise AssertionError("rendered on request")

    monkeypatch.setattr(sync_mod, "render_markdown", boom)
    monkeypatch.setattr("app.sops.render.render_markdown", boom)
    r = client.get("/sops/FO-NA-001")
    assert r.status_code == 200 and "电话日结" in r.get_data(as_text=True)


def test_rendering_features(app):
    rev = db.session.scalar(sa.select(Sop).where(Sop.code == "FO-NA-001")).current
    html = rev.html
    assert "<table>" in html and "<th>步骤</th>" in html  # step table
    assert 'class="admonition' in html  # 注意/警告
    assert 'class="task-list"' in html and 'type="checkbox"' in html
    assert 'class="footnote"' in html
    assert '<div class="mermaid">' in html and rev.has_diagram
    assert rev.toc and all(t["id"] for t in rev.toc)
    assert f'id="{rev.toc[0]["id"]}"' in html


HOSTILE = sorted((ROOT / "tests" / "corpus" / "hostile").glob("*.md"))


class Markup(HTMLParser):
    """Collects every tag and attribute of rendered HTML."""

    def __init__(self):
        super().__init__()
        self.tags, self.attrs = set(), []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attrs += [(tag, k, v or "") for k, v in attrs]


def dangers(html: str) -> list:
    parsed = Markup()
    parsed.feed(html)
    found = [t for t in parsed.tags & {"script", "iframe", "object", "embed", "style", "form", "meta", "base", "svg", "body"}]
    for tag, name, value in parsed.attrs:
        if name.startswith(("on", "hx-", "data-hx", "style")):
            found.append((tag, name))
        if name in ("href", "src", "action") and value.strip().lower().startswith(("javascript:", "data:")):
            found.append((tag, name, value))
    return found


@pytest.mark.parametrize("path", HOSTILE, ids=lambda p: p.stem)
def test_hostile_markdown_is_sanitised(path):
    from app.sops.content import split_front_matter
    from app.sops.render import render_markdown

    html, _toc, _d = render_markdown(split_front_matter(path.read_text())[1])
    assert dangers(html) == [], html


def test_the_danger_check_itself_catches_markup():
    assert dangers('<a href="javascript:x">a</a><p onclick="x" hx-get="/">b</p><script></script>') != []


@THREE_WAYS
def test_library_page_and_fragment(client, auth, headers, fragment):
    auth.login("fo.staff")
    html = page_or_fragment(client, "/sops/?tag=夜审", headers, fragment, '<div id="sop-library">')
    assert "夜审操作规程" in html and "投诉处理程序" not in html


def test_library_groups_by_department(client, auth):
    auth.login("fo.staff")
    html = client.get("/sops/").get_data(as_text=True)
    for dept in ("前厅部", "IT支持部", "客服中心", "财务部"):
        assert f"<h2>{dept}" in html


def test_library_empty_states(client, auth):
    auth.login("fo.staff")
    html = client.get("/sops/?tag=不存在的标签").get_data(as_text=True)
    assert "没有带此标签的规程" in html and 'class="sop-item"' not in html


def test_sop_page_shows_metadata_toc_history_and_overdue_review(client, auth):
    auth.login("fo.staff")
    html = client.get("/sops/FO-NA-001").get_data(as_text=True)
    for text in ("夜审操作规程", "FO-NA-001", "3.1", "前厅部", "2026-03-01", 'class="toc', 'hx-disable', "夜审交接表.xlsx",
                 'id="history"', "#1", "#2", 'class="print-header"', "mermaid.esm.min.mjs"):
        assert text in html, text
    overdue = db.session.scalar(sa.select(Sop).join(SopRevision, Sop.current_revision_id == SopRevision.id)
                                .where(SopRevision.review_by < sa.func.current_date()).limit(1))
    assert 'id="review-overdue"' in client.get(f"/sops/{overdue.code}").get_data(as_text=True)


def test_pages_without_diagrams_do_not_load_mermaid(client, auth):
    auth.login("fo.staff")
    sop = db.session.scalar(sa.select(Sop).join(SopRevision, Sop.current_revision_id == SopRevision.id)
                            .where(SopRevision.has_diagram.is_(False)).limit(1))
    assert "mermaid.esm.min.mjs" not in client.get(f"/sops/{sop.code}").get_data(as_text=True)


def test_older_revision_and_unknown_sop(client, auth):
    auth.login("fo.staff")
    assert "3.0" in client.get("/sops/FO-NA-001?rev=1").get_data(as_text=True)
    assert client.get("/sops/FO-NA-001?rev=9").status_code == 404
    r = client.get("/sops/NO-SUCH-1")
    assert r.status_code == 404 and "<html" in r.get_data(as_text=True)


def test_diff_shows_text_and_table_changes(client, auth):
    auth.login("fo.staff")
    html = client.get("/sops/FO-NA-001/diff?from=1&to=2").get_data(as_text=True)
    assert 'id="table-changes"' in html and 'id="text-changes"' in html
    assert "<del>23:30" in html  # the changed cell shows the old value struck out
    assert 'class="row-added"' in html and "信用卡预授权核查" in html
    single = client.get("/sops/FO-CI-001/diff").get_data(as_text=True)
    assert "此规程只有一个修订版本" in single


def test_table_diff_ignores_renumbering():
    from app.sops.diff import table_diff
    old = "## 步骤\n\n| 步骤 | 标准 |\n|---|---|\n| 1. 开机 | 绿灯 |\n| 2. 登录 | 成功 |\n"
    new = "## 步骤\n\n| 步骤 | 标准 |\n|---|---|\n| 1. 开机 | 绿灯 |\n| 2. 检查网络 | 通 |\n| 3. 登录 | 成功 |\n"
    (t,) = table_diff(old, new)
    assert [r["status"] for r in t.rows] == ["same", "added", "changed"]
    assert t.rows[2]["cells"] == [("3. 登录", True), ("成功", False)]


def test_attachment_download_is_safe(client, auth):
    auth.login("fo.staff")
    r = client.get("/sops/FO-NA-001/files/夜审交接表.xlsx")
    data = r.data
    r.close()
    assert r.status_code == 200 and data[:2] == b"PK"
    cd = r.headers["Content-Disposition"]
    assert cd.startswith("attachment;") and "filename*=UTF-8''" in cd
    assert r.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("name", ["../../org.yaml", "..%2F..%2Forg.yaml", "/etc/passwd", "night-audit.md", "不存在.xlsx"])
def test_attachment_paths_outside_the_list_are_refused(client, auth, name):
    auth.login("fo.staff")
    assert client.get(f"/sops/FO-NA-001/files/{name}", follow_redirects=True).status_code == 404


def test_sop_page_cache_fills_holes_per_user_and_follows_new_revisions(empty_app, content):
    """Two users get the same cached page with their own name and CSRF token; a sync shows at once."""
    from tests.conftest import Auth
    sync(); db.session.commit()
    from app.auth.service import UserData, create_user
    for name, display in (("u.one", "用户一"), ("u.two", "用户二")):
        create_user(UserData(name, display, department="前厅部", password="password-123"))
    db.session.commit()
    one, two = Auth(empty_app.test_client()), Auth(empty_app.test_client())
    one.login("u.one", "password-123"), two.login("u.two", "password-123")
    a = one.client.get("/sops/FO-CI-001").get_data(as_text=True)
    b = two.client.get("/sops/FO-CI-001").get_data(as_text=True)
    assert "用户一" in a and "用户二" not in a and "用户二" in b and "__hole" not in a + b
    assert one.token("/sops/FO-CI-001") != two.token("/sops/FO-CI-001")
    assert one.post("/logout", token_from="/sops/FO-CI-001").status_code == 303  # the filled token works
    path = content / "front-office" / "check-in.md"
    path.write_text(path.read_text().replace("## ", "## 新版 ", 1))
    sync(); db.session.commit()
    assert "新版" in two.client.get("/sops/FO-CI-001").get_data(as_text=True)


def test_an_image_named_in_the_text_is_served_from_the_revisions_attachments(empty_app, content):
    """`![](plan.png)` (as the Word import writes images) points at the attachment route, which serves it;
    an image the revision does not list stays as written."""
    from tests.conftest import Auth
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 32
    write(content, "front-office/plan.png", png)
    text = FRONT.format(id="FO-X-IMG").replace("change: material", "change: material\nattachments: [plan.png]")
    write(content, "front-office/img.md", text + "\n![平面图](plan.png)\n\n![](other.png)\n")
    sync(); db.session.commit()
    from app.auth.service import UserData, create_user
    create_user(UserData("u.img", "用户", department="前厅部", password="password-123"))
    db.session.commit()
    auth = Auth(empty_app.test_client())
    auth.login("u.img", "password-123")
    page = auth.client.get("/sops/FO-X-IMG").get_data(as_text=True)
    assert 'src="/sops/FO-X-IMG/files/plan.png?rev=1"' in page and 'src="other.png"' in page
    with auth.client.get("/sops/FO-X-IMG/files/plan.png?rev=1") as r:
        assert r.status_code == 200 and r.data == png


# Files that once stopped the whole sync (issue #16) -----------------------------------------------------

def alias_bomb() -> str:
    """A 'billion laughs' in one flow list: nine anchors, each nine aliases of the one before (9⁹ values)."""
    lols = ",".join(['"lol"'] * 9)
    levels = [f"&a [{lols}]"] + [f"&{c} [{','.join([f'*{p}'] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi")]
    return f"owner: [{', '.join(levels)}]"


HOSTILE = {
    "impossible date": ("effective: 2026-01-01", "effective: 2026-02-30", 7, "effective must be a date YYYY-MM-DD, got '2026-02-30'"),
    "department as a list": ("department: 前厅部", "department: [前厅部]", 4, "department must be one value"),
    "owner nested 5,000 deep": ("change: material", "change: material\nowner: " + "[" * 5000 + "]" * 5000, 10,
                                "nested deeper than 32 levels"),
    "alias bomb": ("change: material", "change: material\n" + alias_bomb(), 10, "values once aliases are expanded"),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_a_hostile_file_is_reported_and_the_rest_of_the_sync_applies(content, case):
    old, new, line, reason = HOSTILE[case]
    sync(); db.session.commit()
    text = FRONT.format(id="FO-X-100")
    assert old in text
    write(content, "front-office/zz-bad.md", text.replace(old, new, 1))
    write(content, "front-office/zz-good.md", FRONT.format(id="FO-X-101"))
    edited = content / "front-office" / "check-in.md"
    edited.write_text(edited.read_text().replace("## ", "## 修订后 ", 1))
    report = sync(); db.session.commit()
    bad = sync_mod.shown(content / "front-office" / "zz-bad.md")
    assert len(report.errors) == 1 and report.errors[0].startswith(f"{bad}:{line}: ") and reason in report.errors[0]
    assert report.created == ["FO-X-101"] and report.revised == ["FO-CI-001"]  # the other files were applied
    check_in = db.session.scalar(sa.select(Sop).where(Sop.code == "FO-CI-001"))
    assert check_in.current.number == 2 and "修订后" in check_in.current.markdown
    assert db.session.scalar(sa.select(Sop).where(Sop.code == "FO-X-100")) is None


def test_the_alias_bomb_is_small_and_refused_while_composing():
    """432 bytes that safe_load turns into 9⁹ strings once printed; the limited loader never constructs it."""
    from app import safeyaml
    bomb = alias_bomb()
    assert len(bomb.encode()) < 450
    with pytest.raises(safeyaml.LimitError, match="more than 100,000 values"):
        safeyaml.load(bomb)
    with pytest.raises(safeyaml.LimitError, match="inside the value it names"):
        safeyaml.load("a: &a [1, *a]")  # a recursive structure never reaches the checks
    assert safeyaml.load("a: &x {k: 1}\nb: {<<: *x, j: 2}") == {"a": {"k": 1}, "b": {"k": 1, "j": 2}}


def test_a_broken_org_file_is_reported_and_the_sops_still_sync(content):
    sync(); db.session.commit()
    (content.parent / "org.yaml").write_text("departments:\n  - " + alias_bomb().replace("owner: ", "positions: "), encoding="utf-8")
    edited = content / "front-office" / "check-in.md"
    edited.write_text(edited.read_text().replace("## ", "## 修订后 ", 1))
    report = sync(); db.session.commit()
    assert len(report.errors) == 1 and "org.yaml:2: " in report.errors[0] and "departments and positions not changed" in report.errors[0]
    assert report.revised == ["FO-CI-001"]


def test_sync_command_exit_status_says_whether_anything_was_skipped(content, empty_app):
    runner = empty_app.test_cli_runner()
    result = runner.invoke(args=["sops", "sync"])
    assert result.exit_code == 0, result.output
    write(content, "front-office/zz-bad.md", FRONT.format(id="FO-X-100").replace("前厅部", "[前厅部]"))
    write(content, "front-office/zz-good.md", FRONT.format(id="FO-X-101"))
    result = runner.invoke(args=["sops", "sync"])
    assert result.exit_code == 1 and "zz-bad.md:4: department must be one value" in result.output
    assert "1 new, 0 revised" in result.output and "Traceback" not in result.output
    assert db.session.scalar(sa.select(Sop).where(Sop.code == "FO-X-101")) is not None


MARKUP_SAMPLE = """## 标记 *强调* **加粗** _下划线_ `代码`

普通的中文段落，没有任何标记。第二行结尾两个空格  
换行之后 [链接](https://example.com) ![图](a.png) <https://example.com> <x@example.com> &amp; &copy;
~~删除~~ ==高亮== 脚注[^1] \\*转义\\* <span>内联</span> H~2~O

| 步骤 | 标准 | 提示 |
|---|---|---|
| 1 | 核对金额 | *注意* 差异 |
| 2 | 纯文本单元格 | 无标记 |

[^1]: 脚注内容 **粗**。
"""


def test_the_plain_text_fast_path_renders_exactly_what_python_markdown_does():
    """PlainTextInline skips inline patterns for text without markup characters; on every demo SOP, the hostile
    corpus and a sample of every inline construct, the HTML, contents and diagram flag are stock Python-Markdown's."""
    from app.sops.render import render_markdown
    texts = [p.read_text(encoding="utf-8", errors="replace") for p in sorted((ROOT / "content").rglob("*.md"))]
    texts += [p.read_text(encoding="utf-8", errors="replace") for p in sorted((ROOT / "tests" / "corpus").rglob("*"))
              if p.is_file()]
    texts.append(MARKUP_SAMPLE)
    assert len(texts) > 25
    for text in texts:
        assert render_markdown(text) == render_markdown(text, fast=False)
    html = render_markdown(MARKUP_SAMPLE)[0]
    for piece in ("<em>强调</em>", "<strong>加粗</strong>", "<code>代码</code>", "<br", 'href="https://example.com"',
                  "<del>删除</del>", "<mark>高亮</mark>", "footnote-ref", "&amp;", "*转义*"):
        assert piece in html, piece


def test_the_fast_path_skips_the_pattern_searches_on_plain_text(monkeypatch):
    from markdown.treeprocessors import InlineProcessor
    from app.sops.render import render_markdown
    calls = []
    stock = InlineProcessor._InlineProcessor__applyPattern

    def counting(self, *args, **kwargs):
        calls.append(1)
        return stock(self, *args, **kwargs)

    monkeypatch.setattr(InlineProcessor, "_InlineProcessor__applyPattern", counting)
    text = "## 步骤\n\n| 步骤 | 标准 | 提示 |\n|---|---|---|\n" + "| 1 | 核对金额与单据 | 差异超过一百元时报告 |\n" * 50
    render_markdown(text, fast=False)
    stock_calls, calls[:] = len(calls), []
    render_markdown(text)
    assert stock_calls > 1000 and len(calls) == 0


def test_diff_labels_front_matter_and_the_owner_is_the_departments_name(client, auth):
    auth.login("fo.staff")
    html = client.get("/sops/FO-NA-001/diff?from=1&to=2").get_data(as_text=True)
    assert "<td>版本</td>" in html and "<td>version</td>" not in html and "<td>effective</td>" not in html
    page = client.get("/sops/FO-NA-001").get_data(as_text=True)
    assert "<dt>负责人</dt><dd>前厅部</dd>" in page and "front-office" not in page
    auth.post("/language", {"lang": "en", "next": "/"})
    assert "<dt>Owner</dt><dd>Front Office</dd>" in client.get("/sops/FO-NA-001").get_data(as_text=True)


def test_a_tag_in_either_script_is_one_tag(client, auth):
    """會員 (the Hong Kong SOP) and 会员 are one tag, in Simplified, in the tag list, the filter and search."""
    auth.login("fo.staff")
    html = client.get("/sops/").get_data(as_text=True)
    tags = re.findall(r'class="tag[^"]*"[^>]*>([^<]+) <small>', html)
    assert "会员" in tags and "會員" not in tags and "登記" not in tags and tags.count("登记") == 1
    for spelling in ("会员", "會員"):
        listed = client.get(f"/sops/?tag={spelling}").get_data(as_text=True)
        assert "FO-HK-001" in listed and "FO-VIP-001" in listed, spelling
    found = client.get("/search?q=入住&tag=會員").get_data(as_text=True)
    assert "FO-HK-001" in found and "FO-CI-001" not in found
