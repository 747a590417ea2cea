"""我的待办, the header badge, the manager's dashboard and 催签 (app/todo.py over app/waiting.py)."""
import ast
import re
from datetime import date, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from app import waiting
from app.audit import AuditEvent
from app.auth.models import User
from app.checklists import runs as checklist_runs
from app.checklists.models import ChecklistRun, RunItem
from app.checklists.runs import RunError, tick
from app.extensions import db
from app.rosters.models import Handover, RosterEntry, SwapRequest, Team
from app.sops.models import Sop
from tests.conftest import HX, ROOT, THREE_WAYS, Auth, page_or_fragment
from tests.test_acks import smtp  # noqa: F401 - the fixture: a real SMTP server on loopback
from tests.test_checklists import item_where, onboarding_run, user

IT_ITEM = "为新员工开通 PMS（驿家365）账号和门禁卡权限"
MANAGER_ITEM = "安排带教师傅，并在排班表中标注带教班次"


def todo_items(client) -> list[str]:
    html = client.get("/todo").get_data(as_text=True)
    return re.findall(r'<li class="todo-item[^"]*" id="todo-([^"]+)"', html)


def badge(client) -> int:
    html = client.get("/todo/badge").get_data(as_text=True)
    m = re.search(r'id="todo-badge"[^>]*>(\d*)</span>', html)
    return int(m.group(1) or 0)


# The reported bug -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("username", ["it.manager", "admin", "it.hotline"])
def test_an_item_for_it_reaches_every_member_of_it(client, auth, username):
    auth.login(username)
    assert IT_ITEM in client.get("/todo").get_data(as_text=True)
    mine = client.get("/checklists/").get_data(as_text=True)
    assert "没有未完成的清单" not in mine and f"/checklists/runs/{onboarding_run().id}" in mine


@pytest.mark.parametrize("username", ["fo.staff", "cs.manager", "fin.manager"])
def test_an_item_for_it_reaches_nobody_outside_it(client, auth, username):
    auth.login(username)
    assert IT_ITEM not in client.get("/todo").get_data(as_text=True)


def test_the_managers_onboarding_items_reach_their_home_page(client, auth):
    auth.login("fo.manager")
    assert MANAGER_ITEM in client.get("/").get_data(as_text=True)
    assert MANAGER_ITEM in client.get("/todo").get_data(as_text=True)
    auth.login("cs.manager")  # another department's manager: not theirs
    assert MANAGER_ITEM not in client.get("/").get_data(as_text=True)


@pytest.mark.parametrize("username", ["newhire", "fo.manager", "it.hotline", "fo.night", "cs.agent2", "fo.staff"])
def test_the_badge_counts_the_list(client, auth, username):
    auth.login(username)
    assert badge(client) == len(todo_items(client))
    signs = len([k for k in todo_items(client) if k.startswith("sign:")])  # the reading badge: the SOPs among them
    assert re.search(r'id="reading-badge"[^>]*>' + (str(signs) if signs else "") + "</span>",
                     client.get("/reading/badge").get_data(as_text=True))


def test_the_list_is_most_urgent_first_and_each_link_leads_to_where_it_is_done(client, auth):
    auth.login("newhire")
    html = client.get("/todo").get_data(as_text=True)
    dues = [date.fromisoformat(d) for d in re.findall(r'data-due="([\d-]+)"', html)]
    assert dues and dues == sorted(dues)
    key = todo_items(client)[0]
    r = client.get(f"/todo/go?key={key}")
    assert r.status_code == 303 and r.headers["Location"] != "/todo"


@THREE_WAYS
def test_the_todo_page_works_with_and_without_htmx(client, auth, headers, fragment):
    auth.login("it.hotline")
    html = page_or_fragment(client, "/todo", headers, fragment, '<section id="todo-list"')
    assert IT_ITEM in html and 'hx-trigger="every 60s' in html


def test_empty_state(client, auth):
    auth.login("fo.staff")  # the demo's fo.staff has signed everything and has no checklist today
    assert todo_items(client) == [] and badge(client) == 0
    html = client.get("/todo").get_data(as_text=True)
    assert 'class="empty"' in html and "没有等待你的事项" in html


# Long lists: the most urgent page, the count, the rest a page at a time ------------------------------------


def all_pages(client) -> list[list[str]]:
    """The list's keys, page by page, following the pager's links from the first page."""
    pages, url = [], "/todo"
    while url:
        html = client.get(url).get_data(as_text=True)
        pages.append(re.findall(r'<li class="todo-item[^"]*" id="todo-([^"]+)"', html))
        following = re.search(r'<span aria-current="page">(\d+)</span>\s*<a href="(/todo\?page=\d+)"', html)
        url = following.group(2) if following else None
    return pages


@pytest.mark.parametrize("username", ["newhire", "it.hotline", "fo.manager"])
def test_a_long_list_is_most_urgent_first_across_pages_and_the_badge_counts_it_all(client, auth, monkeypatch,
                                                                                   username):
    """More items than a page shows: page 1 has the most urgent of every kind, the pager reaches every other item
    once and in order, and the badge and the heading count them all."""
    auth.login(username)
    everything = todo_items(client)  # the demo's lists fit on one page of 100
    kinds = {k.split(":")[0] for k in everything}
    assert len(everything) >= 4 and len(kinds) > 1
    monkeypatch.setattr("app.todo.SHOWN", 2)
    pages = all_pages(client)
    assert all(len(p) == 2 for p in pages[:-1]) and 1 <= len(pages[-1]) <= 2
    assert [k for p in pages for k in p] == everything  # merged across providers, in order, none twice or missing
    assert len(pages) == -(-len(everything) // 2) and badge(client) == len(everything)
    html = client.get("/todo?page=2").get_data(as_text=True)
    assert f"待办事项：{len(everything)} 项" in html and "第 3–4 项" in html
    assert '<ol class="plain todo-items" start="3">' in html


def test_the_first_page_holds_the_earliest_due_whichever_feature_they_come_from(client, auth, monkeypatch):
    auth.login("newhire")
    everything = client.get("/todo").get_data(as_text=True)
    dues = sorted(date.fromisoformat(d) for d in re.findall(r'data-due="([\d-]+)"', everything))
    monkeypatch.setattr("app.todo.SHOWN", 5)
    html = client.get("/todo").get_data(as_text=True)
    first = [date.fromisoformat(d) for d in re.findall(r'data-due="([\d-]+)"', html)]
    assert first == dues[:5]


@THREE_WAYS
def test_a_later_page_works_with_and_without_htmx_and_refreshes_itself(client, auth, monkeypatch, headers, fragment):
    auth.login("it.hotline")
    monkeypatch.setattr("app.todo.SHOWN", 2)
    html = page_or_fragment(client, "/todo?page=2", headers, fragment, '<section id="todo-list"')
    assert 'hx-get="/todo?page=2"' in html  # the refresh reloads this page, not the first
    assert '<a href="/todo" hx-get="/todo" hx-target="#todo-list"' in html and 'aria-current="page">2<' in html


def test_a_page_past_the_end_or_not_a_number(client, auth, monkeypatch):
    auth.login("newhire")
    monkeypatch.setattr("app.todo.SHOWN", 2)
    r = client.get("/todo?page=999")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "这一页已超出列表末尾" in html and '<a href="/todo" hx-get="/todo"' in html
    assert client.get("/todo?page=abc", headers=HX).data == client.get("/todo", headers=HX).data  # the first page
    assert client.get("/todo?page=-3").status_code == 200


def test_the_registry_merges_a_short_unsorted_list_with_a_cut_one(monkeypatch):
    """A short provider may ignore the limit and return its items in any order; a long one returns its first
    `limit`. The registry's top is the most urgent across both, and its total is every item."""
    day = date(2026, 3, 1)
    short = [waiting.Item("swap", "晚", "/s", day + timedelta(days=5), key="swap:1"),
             waiting.Item("swap", "无期限", "/s", None, key="swap:2"),
             waiting.Item("swap", "早", "/s", day, key="swap:3")]
    long = [waiting.Item("checklist", f"事项 {n}", "/c", day + timedelta(days=n // 2), key=f"item:{n}", rank=n)
            for n in range(1, 40)]

    def cut(_user, limit):
        return long[:limit], len(long)
    monkeypatch.setattr(waiting, "providers", [lambda _user, _limit: (short, len(short)), cut])
    everything = sorted(short + long, key=waiting.Item.sort_key)
    for limit in (0, 1, 2, 3, 10, 50):
        assert waiting.top_for(None, limit) == (everything[:limit], 42)
    assert waiting.items_for(None) == everything and waiting.count_for(None) == 42
    assert [i.key for i in everything[:4]] == ["item:1", "swap:3", "item:2", "item:3"]  # same day: by kind


@pytest.mark.parametrize("username", ["newhire", "it.hotline", "fo.manager", "admin"])
def test_each_provider_cuts_its_own_list_at_the_limit_in_the_lists_order(app, username):
    """A provider's `limit` most urgent items are the first of its whole list, and its total is the whole list's
    length: what lets the page merge a few from each provider (the checklists do it in SQL)."""
    from flask_login import login_user
    with app.test_request_context("/"):
        login_user(user(username))
        for fn in waiting.providers:
            whole, total = fn(user(username), None)
            whole = sorted(whole, key=waiting.Item.sort_key)
            assert total == len(whole)
            for limit in (0, 1, 2, 5):
                some, n = fn(user(username), limit)
                assert n == total and sorted(some, key=waiting.Item.sort_key)[:limit] == whole[:limit], fn.__name__


def test_items_due_the_same_day_are_cut_and_paged_in_one_order(app, client, auth, monkeypatch):
    """Many @IT items due the same day, and undated ones: SQL's LIMIT and the merged list agree on the order (due,
    then the item's id), so paging neither repeats nor skips an item."""
    from flask_login import login_user
    from app.checklists.runs import start
    from app.checklists.todo import checklist_items
    with app.test_request_context("/"):
        start("批量开通账号", "adhoc", [{"section": "IT", "text": f"开通账号 {n % 3}", "role": "it", "day": 1 if n < 7 else None}
                                  for n in range(10)], date.today(), assignee=user("newhire"))
        db.session.commit()
        login_user(user("it.hotline"))
        whole, total = checklist_items(user("it.hotline"), None)
        assert total == len(whole) >= 10 and whole == sorted(whole, key=waiting.Item.sort_key)
        cuts = [checklist_items(user("it.hotline"), k)[0] for k in range(total + 1)]
        assert cuts == [whole[:k] for k in range(total + 1)]
    auth.login("it.hotline")
    everything = todo_items(client)
    monkeypatch.setattr("app.todo.SHOWN", 3)
    assert [k for p in all_pages(client) for k in p] == everything and len(everything) == badge(client)


def test_the_count_builds_no_items_for_long_lists(app, monkeypatch):
    """The badge asks for counts: the checklists and the signatures count in SQL or from rows, never building an item
    (an IT engineer has a thousand)."""
    from app.acks.todo import sops_to_sign
    from app.checklists.todo import checklist_items
    with app.test_request_context("/"):
        people = [user(name) for name in ("newhire", "it.hotline")]
        totals = [(checklist_items(u, None)[1], sops_to_sign(u, None)[1]) for u in people]
        assert all(t > 0 for pair in totals for t in pair)

        def built(*_a, **_k):
            raise AssertionError("an item was built for a count")
        monkeypatch.setattr(waiting.Item, "__init__", built)
        assert [(checklist_items(u, 0), sops_to_sign(u, 0)) for u in people] == [
            (([], c), ([], s)) for c, s in totals]


# A group item is done once --------------------------------------------------------------------------------


def test_a_group_item_ticked_by_two_members_is_done_once_by_the_first(client, auth):
    run = onboarding_run()
    item = item_where(run, IT_ITEM)
    auth.login("it.hotline")
    r = auth.post(f"/checklists/runs/{run.id}/items/{item.id}", {"done": "1"}, token_from=f"/checklists/runs/{run.id}",
                  headers=HX)
    assert r.status_code == 200
    auth.login("it.manager")
    r = auth.post(f"/checklists/runs/{run.id}/items/{item.id}", {"done": "1"}, token_from=f"/checklists/runs/{run.id}",
                  headers=HX)
    db.session.expire_all()
    done = db.session.get(RunItem, item.id)
    assert done.done_by_id == user("it.hotline").id
    local = done.done_at.replace(tzinfo=timezone.utc).astimezone(timezone(timedelta(hours=8)))
    text = r.get_data(as_text=True)
    assert r.status_code == 409 and f"已由 吴昊 于 {local:%Y-%m-%d %H:%M} 完成" in text  # the wall clock, not UTC
    for username in ("it.manager", "admin", "it.hotline"):  # off every member's list
        auth.login(username)
        assert IT_ITEM not in client.get("/todo").get_data(as_text=True)


def test_two_ticks_at_once_the_conditional_update_decides(app, monkeypatch):
    """Both members read the item while it was open; the first write wins, the second is refused with the first's
    name (the check before the write saw an open item: only the conditional UPDATE can tell)."""
    run_id, item_id = onboarding_run().id, item_where(onboarding_run(), IT_ITEM).id
    db.session.commit()  # the test body's own transaction ends: the requests below write
    with app.test_request_context("/"):
        run, hotline, manager = db.session.get(ChecklistRun, run_id), user("it.hotline"), user("it.manager")
        stale = db.session.get(RunItem, item_id)  # the second request's read: still open
        assert stale.done_at is None
        db.session.expunge(stale)
        tick(hotline, run, item_id, True)  # the first request's tick, committed
        db.session.commit()
        monkeypatch.setattr(checklist_runs, "lock", lambda _id: stale)
        with pytest.raises(RunError) as refused:
            tick(manager, run, item_id, True)
        assert refused.value.status == 409 and "吴昊" in refused.value.message()
        db.session.rollback()
    db.session.expire_all()
    assert db.session.get(RunItem, item_id).done_by_id == user("it.hotline").id


# Swaps, handovers, links to things that have gone ---------------------------------------------------------


def a_future_entry(team_code: str, username: str) -> RosterEntry:
    team = db.session.scalar(sa.select(Team).where(Team.code == team_code))
    return db.session.scalar(sa.select(RosterEntry).where(
        RosterEntry.team_id == team.id, RosterEntry.user_id == user(username).id,
        RosterEntry.day > date.today() + timedelta(days=3)).order_by(RosterEntry.day))


def test_a_swap_to_answer_is_on_the_colleagues_list_and_a_withdrawn_one_gives_a_message(client, auth):
    entry = a_future_entry("FO-DESK", "fo.staff")
    auth.login("fo.staff")
    r = auth.post("/rosters/swaps", {"entry": entry.id, "colleague": "fo.desk2"}, token_from="/rosters/swaps")
    assert r.status_code == 303
    swap = db.session.scalar(sa.select(SwapRequest).order_by(SwapRequest.id.desc()))
    auth.login("fo.desk2")
    assert f"swap:{swap.id}" in todo_items(client)
    r = client.get(f"/todo/go?key=swap:{swap.id}")
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/rosters/swaps#swap-{swap.id}")
    db.session.delete(swap)  # withdrawn
    db.session.commit()
    r = client.get(f"/todo/go?key=swap:{swap.id}", follow_redirects=True)
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "不再等待" in html and f"swap:{swap.id}" not in todo_items(client)


def test_a_retired_sop_leaves_the_list_and_its_old_link_gives_a_message(client, auth):
    auth.login("newhire")
    key = next(k for k in todo_items(client) if k.startswith("sign:"))
    db.session.execute(sa.update(Sop).where(Sop.code == key.split(":")[1]).values(retired_at=sa.func.now()))
    db.session.commit()
    assert key not in todo_items(client)
    r = client.get(f"/todo/go?key={key}", follow_redirects=True)
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "不再等待" in html


def test_a_handover_waits_for_whoever_is_rostered_on_the_next_shift(client, auth):
    from app.rosters.service import save_handover
    from app.rosters.todo import next_shift
    team = db.session.scalar(sa.select(Team).where(Team.code == "FO-DESK"))
    today = date.today()
    first = team.shift_types[0]
    author = db.session.scalar(sa.select(RosterEntry).where(RosterEntry.shift_type_id == first.id,
                                                            RosterEntry.day == today))
    if author is None:
        pytest.skip("no one rostered on the first shift today")
    h = save_handover(author.user, team, first, today, {"unfinished": "交接测试"}, [])
    db.session.commit()
    shift_id, day = next_shift(h, team.shift_types)
    incoming = db.session.scalars(sa.select(RosterEntry.user_id).where(RosterEntry.shift_type_id == shift_id,
                                                                       RosterEntry.day == day)).all()
    assert incoming
    auth.login(db.session.get(User, incoming[0]).username)
    assert f"handover:{h.id}" in todo_items(client)
    auth.login(author.user.username)  # its author does not confirm it
    assert f"handover:{h.id}" not in todo_items(client)


# The dashboard and 催签 -----------------------------------------------------------------------------------


def test_the_dashboard_shows_each_number_with_the_people_behind_it(client, auth):
    auth.login("fo.manager")
    html = client.get("/dashboard").get_data(as_text=True)
    for key in ("overdue_signatures", "pending_swaps", "unconfirmed_handovers", "onboarding_past_due", "overdue_reviews"):
        assert f'href="#{key}"' in html and f'id="{key}"' in html
    assert "/acks/people/" in html  # the overdue signatures link to each person


def test_the_dashboard_is_for_managers_of_their_own_department(client, auth):
    auth.login("fo.staff")
    assert client.get("/dashboard").status_code == 403
    auth.login("cs.manager")
    assert client.get("/dashboard?department=FO").status_code == 404
    assert client.get("/dashboard").status_code == 200
    auth.login("admin")
    assert "前厅部" in client.get("/dashboard?department=FO").get_data(as_text=True)
    assert client.get("/dashboard?department=NOPE").status_code == 404


def test_chase_sends_mail_emits_an_event_and_is_audited(app, client, auth, smtp):
    controller, inbox = smtp
    app.config.update(MAIL_PORT=controller.port)
    heard = []
    waiting.listeners.append(heard.append)
    try:
        auth.login("fo.manager")
        people = {u for s in waiting_sections("FO") if s.key == "overdue_signatures" for u in s.people}
        assert people
        r = auth.post("/dashboard/chase", {"department": "FO", "section": "overdue_signatures"}, token_from="/dashboard")
        assert r.status_code == 303
    finally:
        waiting.listeners.remove(heard.append)
    assert len(inbox) == len(people)
    assert [e.kind for e in heard] == ["chase"] and set(heard[0].user_ids) == people
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "todo.chase"))
    assert event is not None and event.object == "department:FO"


def waiting_sections(code: str):
    from app.org import Department
    from flask import current_app
    with current_app.test_request_context("/"):
        return waiting.sections_for(db.session.scalar(sa.select(Department.id).where(Department.code == code)))


def test_chase_refuses_another_department_and_staff(client, auth):
    auth.login("cs.manager")
    r = auth.post("/dashboard/chase", {"department": "FO", "section": "overdue_signatures"}, token_from="/dashboard")
    assert r.status_code == 404
    auth.login("fo.staff")
    r = auth.post("/dashboard/chase", {"department": "FO", "section": "overdue_signatures"})
    assert r.status_code == 403
    assert db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "todo.chase")) is None


def test_a_chase_storm_is_refused_at_the_tenth_click(limited_app, smtp):
    controller, _inbox = smtp
    limited_app.config.update(MAIL_PORT=controller.port)
    client = limited_app.test_client()
    auth = Auth(client)
    auth.login("fo.manager")
    token = auth.token("/dashboard")
    form = {"department": "FO", "section": "overdue_signatures", "csrf_token": token}
    codes = [client.post("/dashboard/chase", data=form).status_code for _ in range(10)]
    assert codes[:9] == [303] * 9 and codes[9] == 429
    r = client.post("/dashboard/chase", data=form)
    assert r.status_code == 429 and "催签太频繁" in r.get_data(as_text=True), r.get_data(as_text=True)[-1500:]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "todo.chase")) == 9


# Layers -----------------------------------------------------------------------------------------------------


def imports_of(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return names


def test_checklists_never_import_rosters():
    for path in (ROOT / "app" / "checklists").rglob("*.py"):
        assert not any(n == "app.rosters" or n.startswith("app.rosters.") for n in imports_of(path)), path


FEATURES = ("acks", "authoring", "checklists", "rosters", "search", "sops")


@pytest.mark.parametrize("module", ["waiting", "staffing", "todo", "clock", "frontmatter", "spreadsheet", "mail"])
def test_core_modules_import_no_feature(module):
    names = imports_of(ROOT / "app" / f"{module}.py")
    assert not [n for n in names if any(n == f"app.{f}" or n.startswith(f"app.{f}.") for f in FEATURES)]


def hotline_ticks_the_it_item(auth) -> None:
    run = onboarding_run()
    item = item_where(run, IT_ITEM)
    auth.login("it.hotline")
    assert auth.post(f"/checklists/runs/{run.id}/items/{item.id}", {"done": "1"},
                     token_from=f"/checklists/runs/{run.id}", headers=HX).status_code == 200


def test_the_badge_follows_a_colleagues_tick_at_once(client, auth):
    """The badge reuses its count only while nothing watched moved: a colleague's tick moves it."""
    auth.login("admin")
    before = badge(client)
    assert badge(client) == before == len(todo_items(client))
    hotline_ticks_the_it_item(auth)
    auth.login("admin")
    assert badge(client) == before - 1 == len(todo_items(client))


# The badge in the page ---------------------------------------------------------------------------------------


def page_badge(client, url: str) -> int | None:
    """The to-do badge as a page brings it: its count, or None when it is empty and loads itself after the page."""
    html = client.get(url).get_data(as_text=True)
    m = re.search(r'<span id="todo-badge"[^>]*hx-trigger="([^"]*)"[^>]*>(\d*)</span>', html)
    assert m, f"no to-do badge on {url}"
    if m.group(1).startswith("load"):
        assert m.group(2) == ""
        return None
    return int(m.group(2) or 0)


@pytest.mark.parametrize("url", ["/reading", "/", "/sops/FO-NA-001", "/checklists/"])
def test_a_page_brings_the_count_once_the_list_was_counted(client, auth, url):
    """No second request on every page: once the worker has counted, the page's header holds the count."""
    auth.login("newhire")
    n = len(todo_items(client))
    assert n and page_badge(client, url) == n
    assert page_badge(client, url) == n  # and again (an SOP page from the page cache)


def test_without_a_kept_count_the_page_leaves_the_badge_to_load_itself(app, client, auth):
    auth.login("newhire")
    app.extensions.pop("todo_counts", None)
    assert page_badge(client, "/reading") is None  # the page never pays for a recount
    n = badge(client)  # the badge's own request counts and keeps the count
    assert page_badge(client, "/reading") == n == len(todo_items(client))


def test_a_cached_page_shows_each_person_their_own_count(app, client, auth):
    """SOP pages are cached for everyone of a role: the badge is a hole, filled per person."""
    counts = {}
    for username in ("newhire", "fo.staff", "it.hotline"):  # all staff: the same cached page
        auth.login(username)
        counts[username] = len(todo_items(client))
        assert page_badge(client, "/sops/FO-NA-001") == counts[username]
    assert len(set(counts.values())) == 3
    auth.login("newhire")
    assert page_badge(client, "/sops/FO-NA-001") in (counts["newhire"], None)
    assert sum(1 for k in app.extensions["pagecache"] if k[:2] == ("sop", "FO-NA-001")) == 1


def test_the_page_badge_follows_a_colleagues_tick(client, auth):
    """A kept count is put in a page only while nothing watched has moved; then the page's badge loads a new count."""
    auth.login("admin")
    before = len(todo_items(client))
    assert page_badge(client, "/reading") == before
    hotline_ticks_the_it_item(auth)
    auth.login("admin")
    assert page_badge(client, "/reading") in (None, before - 1)
    assert badge(client) == before - 1 and page_badge(client, "/reading") == before - 1
