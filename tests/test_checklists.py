"""Checklist templates, runs, ticking, onboarding, working days, recurring schedules and the pages."""
import io
import re
import struct
import zlib
import shutil
import threading
from datetime import date, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.audit import AuditEvent
from app.auth.models import User
from app.auth.service import UserData, create_user
from app.checklists.content import ContentError, parse_items
from app.checklists.models import ChecklistRun, ChecklistTemplate, ItemEvent, ItemPhoto, RunItem
from app.checklists.runs import schedule, start_onboarding
from app.checklists.sync import sync_templates
from app.extensions import db
from app.workdays import nth_workday, unconfigured_years
from tests.conftest import HX, ROOT, THREE_WAYS, Auth, page_or_fragment


def user(username: str) -> User:
    return db.session.scalar(sa.select(User).where(User.username == username))


def onboarding_run(username: str = "newhire") -> ChecklistRun:
    db.session.expire_all()
    return db.session.scalar(sa.select(ChecklistRun).where(ChecklistRun.assignee_id == user(username).id,
                                                           ChecklistRun.kind == "onboarding"))


def item_where(run: ChecklistRun, text: str) -> RunItem:
    return next(i for i in run.items if text in i.text)


def tick(auth: Auth, run: ChecklistRun, item: RunItem, done=True, headers=HX, **form):
    return auth.post(f"/checklists/runs/{run.id}/items/{item.id}", {"done": "1" if done else "0", **form},
                     token_from=f"/checklists/runs/{run.id}", headers=headers)


@pytest.fixture
def checklists_dir(app, tmp_path):
    """A copy of content/checklists that a test may edit; synced from there."""
    root = tmp_path / "checklists"
    shutil.copytree(ROOT / "content" / "checklists", root)
    return root


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.write_text(text, encoding="utf-8")
    return path


# Templates ----------------------------------------------------------------------------------------


def test_item_annotations_are_parsed():
    items = parse_items("## 第一周\n\n- [ ] 阅读 [[FO-CI-001]] (第3天) @经理 {备注}\n- [x] 盘点备用金 {number} (day 2)\n"
                        "```\n- [ ] not an item in a code fence\n```\n", 5, {"FO-CI-001"})
    assert [(i.section, i.text, i.day, i.sop, i.evidence, i.role, i.line) for i in items] == [
        ("第一周", "阅读 FO-CI-001", 3, "FO-CI-001", "note", "manager", 7),
        ("第一周", "盘点备用金", 2, None, "number", "assignee", 8)]


@pytest.mark.parametrize("body,reason", [
    ("- [ ] 报到 (第三天)", "due offset"),
    ("- [ ] 报到 (day x)", "due offset"),
    ("- [ ] 阅读 [[XX-NO-999]]", "unknown SOP"),
    ("- [ ] 报到 @老板", "unknown role"),
])
def test_bad_items_are_refused_with_the_line(body, reason):
    with pytest.raises(ContentError, match=reason) as e:
        parse_items("\n\n" + body, 10, {"FO-CI-001"})
    assert e.value.line == 12


def test_bad_templates_are_reported_with_path_and_line_and_skipped(app, checklists_dir):
    head = "---\nid: {id}\ntitle: T\nkind: adhoc\n---\n"
    write(checklists_dir, "empty.md", head.format(id="CL-EMPTY") + "没有任何条目。\n")
    write(checklists_dir, "dup.md", head.format(id="CL-FO-NA-PRECHECK") + "- [ ] 一项\n")
    write(checklists_dir, "unknown.md", head.format(id="CL-UNKNOWN") + "\n- [ ] 阅读 [[XX-NO-999]]\n")
    write(checklists_dir, "offset.md", head.format(id="CL-OFFSET") + "- [ ] 报到 (第一天)\n")
    lines = sync_templates(checklists_dir)
    text = "\n".join(lines)
    assert re.search(r"empty\.md:6: the checklist has no items", text)
    assert re.search(r"dup\.md:2: duplicate id 'CL-FO-NA-PRECHECK'", text) or \
        re.search(r"night-audit-precheck\.md:2: duplicate id", text)
    assert re.search(r"unknown\.md:7: unknown SOP 'XX-NO-999'", text)
    assert re.search(r"offset\.md:6: due offset", text)
    codes = set(db.session.scalars(sa.select(ChecklistTemplate.code).where(ChecklistTemplate.retired_at.is_(None))))
    assert {"CL-EMPTY", "CL-UNKNOWN", "CL-OFFSET"}.isdisjoint(codes) and "ONB-FO-RECEPTION" in codes


def test_hostile_templates_are_reported_and_the_others_still_sync(app, checklists_dir):
    head = "---\nid: {id}\ntitle: {title}\nkind: adhoc\n---\n- [ ] 一项\n"
    bomb = "[&a [1,1,1,1,1,1,1,1,1]" + "".join(f", &{c} [{','.join([f'*{p}'] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi")) + "]"
    write(checklists_dir, "bomb.md", head.format(id="CL-BOMB", title=bomb))
    write(checklists_dir, "deep.md", head.format(id="CL-DEEP", title="[" * 5000 + "]" * 5000))
    write(checklists_dir, "list.md", head.format(id="CL-LIST", title="[标题]"))
    write(checklists_dir, "good.md", head.format(id="CL-GOOD", title="好的"))
    outcome = sync_templates(checklists_dir)
    text = "\n".join(outcome.errors)
    assert len(outcome.errors) == 3, text
    assert re.search(r"bomb\.md:3: front matter is not valid YAML: more than 100,000 values", text)
    assert re.search(r"deep\.md:3: front matter is not valid YAML: nested deeper than 32 levels", text)
    assert re.search(r"list\.md:3: title must be one value", text)
    codes = set(db.session.scalars(sa.select(ChecklistTemplate.code).where(ChecklistTemplate.retired_at.is_(None))))
    assert "CL-GOOD" in codes and {"CL-BOMB", "CL-DEEP", "CL-LIST"}.isdisjoint(codes)


def test_checklists_sync_exit_status_says_whether_anything_was_skipped(app, tmp_path):
    root = tmp_path / "content"
    shutil.copytree(ROOT / "content", root)
    app.config["CONTENT_DIR"] = str(root)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["checklists", "sync"])
    assert result.exit_code == 0 and "0 skipped with errors" in result.output
    write(root / "checklists", "bad.md", "---\nid: CL-BAD\ntitle: T\nkind: adhoc\n---\n没有条目。\n")
    result = runner.invoke(args=["checklists", "sync"])
    assert result.exit_code == 1 and "bad.md:6: the checklist has no items" in result.output


def test_a_run_keeps_its_revision_when_the_template_changes(app, checklists_dir):
    run = onboarding_run()
    before = [(i.text, i.due) for i in run.items]
    path = checklists_dir / "onboarding-front-desk.md"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("- [ ] 参加一次消防演练并知道本楼层的疏散路线 (第14天)\n", ""), encoding="utf-8")
    sync_templates(checklists_dir)
    db.session.commit()
    template = db.session.scalar(sa.select(ChecklistTemplate).where(ChecklistTemplate.code == "ONB-FO-RECEPTION"))
    assert template.current.number == 2 and len(template.current.items) == len(before) - 1
    assert [(i.text, i.due) for i in onboarding_run().items] == before  # the open run keeps the removed item


# Working days ------------------------------------------------------------------------------------


def test_due_dates_skip_weekends_and_holidays_and_count_make_up_days(app):
    start = date(2026, 9, 30)  # a Wednesday before the National Day holiday (1–7 October 2026)
    assert [nth_workday(start, n) for n in range(1, 6)] == [
        date(2026, 9, 30), date(2026, 10, 8), date(2026, 10, 9), date(2026, 10, 10), date(2026, 10, 12)]
    assert date(2026, 10, 10).weekday() == 5  # a Saturday make-up working day (调休) counts


def test_a_year_without_holiday_data_counts_weekends_and_warns_then_reads_the_content_file(app, tmp_path):
    assert nth_workday(date(2027, 1, 1), 1) == date(2027, 1, 1)  # a Friday; the package knows no 2027
    assert unconfigured_years(date(2027, 1, 4)) == [2027]
    content = tmp_path / "content"
    (content / "holidays").mkdir(parents=True)
    (content / "holidays" / "2027.yaml").write_text("holidays: [2027-01-01]\nworkdays: [2027-01-02]\n")
    app.config["CONTENT_DIR"] = str(content)
    assert nth_workday(date(2027, 1, 1), 1) == date(2027, 1, 2)  # the holiday skipped, the Saturday worked
    assert unconfigured_years(date(2027, 1, 4)) == []


def test_the_warning_shows_on_a_plan_that_runs_into_an_unconfigured_year(client, auth):
    u = user("newhire")
    for run in db.session.scalars(sa.select(ChecklistRun).where(ChecklistRun.assignee_id == u.id)):
        for i in run.items:
            i.due = date(2027, 1, 15)
    db.session.commit()
    auth.login("newhire")
    assert "2027年节假日安排未配置" in client.get("/onboarding").get_data(as_text=True)


# Onboarding --------------------------------------------------------------------------------------


def test_the_demo_new_hire_has_a_plan_with_due_dates_from_the_start_date(app):
    run = onboarding_run()
    assert run.title == "前台接待 30 天入职计划" and run.run_date == date.today()
    first = [i for i in run.items if i.section.startswith("第一天")]
    assert first and all(i.due == nth_workday(date.today(), 1) for i in first)
    assert onboarding_run("fo.staff") is None  # no start date, no plan


@pytest.mark.parametrize("how", ["cli", "csv", "form"])
def test_creating_a_user_with_start_date_and_position_starts_the_plan(app, client, auth, how):
    if how == "cli":
        result = app.test_cli_runner().invoke(args=["users", "create", "li.ming", "--name", "李明", "--department",
                                                    "IT支持部", "--positions", "热线工程师", "--start-date", "2026-12-01"])
        assert result.exit_code == 0, result.output
    elif how == "csv":
        from app.auth.service import import_csv
        import_csv("username,display_name,department,positions,start_date\nli.ming,李明,IT支持部,热线工程师,2026-12-01\n")
        db.session.commit()
    else:
        auth.login("admin")
        r = auth.post("/admin/users/new", {"username": "li.ming", "display_name": "李明", "department": "IT支持部",
                                           "positions": "热线工程师", "role": "staff", "start_date": "2026-12-01",
                                           "password": "a-long-password-1"}, token_from="/admin/users/new")
        assert r.status_code in (200, 303)
    run = onboarding_run("li.ming")
    assert run is not None and run.title == "IT 热线工程师 30 天入职计划"
    assert run.items[0].due == date(2026, 12, 1)


def test_a_start_date_in_the_past_makes_the_plan_overdue_at_once(app):
    u, _pw = create_user(UserData("old.start", "老员工", "", "前厅部", ("前台接待",), "staff", date(2026, 1, 5), "pw-123456789"))
    db.session.commit()
    run = onboarding_run("old.start")
    assert run.items[0].due == date(2026, 1, 5)
    assert all(i.due < date.today() for i in run.items)
    assert start_onboarding(u)[0].id == run.id  # starting again returns the same run


# Ticking -----------------------------------------------------------------------------------------


@THREE_WAYS
def test_item_fragment_and_page(client, auth, headers, fragment):
    auth.login("newhire")
    run = onboarding_run()
    item = run.items[0]
    page_or_fragment(client, f"/checklists/runs/{run.id}/items/{item.id}", headers, fragment, f'<li id="item-{item.id}"')


def test_tick_records_who_and_when_and_untick_is_audited_with_history(client, auth):
    auth.login("newhire")
    run = onboarding_run()
    item = run.items[0]
    r = tick(auth, run, item)
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "item-done" in html and f'id="run-progress-{run.id}" role' in html \
        and 'hx-swap-oob="true"' in html
    db.session.expire_all()
    item = db.session.get(RunItem, item.id)
    assert item.done_by_id == user("newhire").id and item.done_at is not None
    assert tick(auth, run, item, done=False).status_code == 200
    db.session.expire_all()
    assert db.session.get(RunItem, item.id).done_at is None
    actions = [e.action for e in db.session.scalars(sa.select(ItemEvent).where(ItemEvent.item_id == item.id))]
    assert actions == ["tick", "untick"]
    assert db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "checklist.untick")) is not None


def test_without_javascript_a_tick_redirects_back(client, auth):
    auth.login("newhire")
    run = onboarding_run()
    r = tick(auth, run, run.items[0], headers={})
    assert r.status_code == 303 and f"/checklists/runs/{run.id}#item-" in r.headers["Location"]


def test_evidence_is_required(client, auth):
    auth.login("newhire")
    run = onboarding_run()
    note_item, number_item = item_where(run, "跟班观摩"), item_where(run, "5 笔散客")
    r = tick(auth, run, note_item)
    assert r.status_code == 422 and "备注" in r.get_data(as_text=True)
    assert tick(auth, run, number_item, number="五笔").status_code == 422
    assert tick(auth, run, number_item, number="5").status_code == 200
    assert tick(auth, run, note_item, note="押金规则不清楚").status_code == 200
    db.session.expire_all()
    assert db.session.get(RunItem, note_item.id).note == "押金规则不清楚"


def test_sop_items_complete_only_when_the_sop_is_signed(client, auth):
    auth.login("newhire")
    run = onboarding_run()
    sop_item = item_where(run, "前台入住登记流程")
    assert tick(auth, run, sop_item).status_code == 409
    html = client.get(f"/checklists/runs/{run.id}").get_data(as_text=True)
    assert f'hx-get="/sops/FO-CI-001/ack?deadline=0&amp;slot=item-{sop_item.id}"' in html  # the sign panel, inline (ids per item)
    auth.post("/sops/FO-CI-001/ack", {"password": "demo-2026", "revision_id": _current("FO-CI-001")},
              token_from="/sops/FO-CI-001/ack")
    html = client.get(f"/checklists/runs/{run.id}/items/{sop_item.id}", headers=HX).get_data(as_text=True)
    assert "item-done" in html and "已签 " not in html


def _current(code: str) -> int:
    from app.sops.models import Sop
    return db.session.scalar(sa.select(Sop.current_revision_id).where(Sop.code == code))


def test_wrong_people_get_403_and_managers_may_tick(client, auth, app):
    run = onboarding_run()
    item = run.items[0]
    auth.login("cs.agent")
    assert client.get(f"/checklists/runs/{run.id}").status_code == 403
    assert tick(auth, run, item).status_code == 403
    auth.logout()
    auth.login("fo.staff")  # same department, not the new hire's
    assert tick(auth, run, item).status_code == 403
    auth.logout()
    auth.login("newhire")
    it_item = next(i for i in run.items if i.role == "it")
    assert tick(auth, run, it_item).status_code == 403  # IT's item
    auth.logout()
    auth.login("it.hotline")
    assert tick(auth, run, it_item).status_code == 200
    auth.logout()
    auth.login("fo.manager")
    assert tick(auth, run, item).status_code == 200


def test_a_finished_run_refuses_ticks(client, auth):
    auth.login("fo.night")
    schedule(date.today())
    db.session.commit()
    run = db.session.scalar(sa.select(ChecklistRun).where(ChecklistRun.dedupe_key.like("recurring:CL-FO-NA-PRECHECK:%")))
    for item in run.items:
        assert tick(auth, run, item, note="已核对", number="2000", photo=(io.BytesIO(png()), "safe.png")).status_code == 200
    r = auth.post(f"/checklists/runs/{run.id}/finish", token_from=f"/checklists/runs/{run.id}")
    assert r.status_code == 303
    db.session.expire_all()
    assert db.session.get(ChecklistRun, run.id).finished_at is not None
    assert tick(auth, run, run.items[0], done=False).status_code == 403
    record = client.get(f"/checklists/runs/{run.id}/record").get_data(as_text=True)
    assert "已核对" in record and "2000" in record and "周强" in record


def test_finishing_with_open_items_is_refused(client, auth):
    auth.login("newhire")
    run = onboarding_run()
    r = auth.post(f"/checklists/runs/{run.id}/finish", token_from=f"/checklists/runs/{run.id}", follow_redirects=True)
    assert "仍未完成" in r.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(ChecklistRun, run.id).finished_at is None


def test_two_people_ticking_the_same_item_at_once(app):
    run = onboarding_run()
    item = run.items[0]
    people = ["newhire", "fo.manager"]
    clients = [app.test_client() for _ in people]
    tokens = []
    for c, name in zip(clients, people):
        a = Auth(c)
        a.login(name)
        tokens.append(a.token(f"/checklists/runs/{run.id}"))
    url = f"/checklists/runs/{run.id}/items/{item.id}"
    db.session.commit()
    barrier, codes = threading.Barrier(2), []

    def go(c, token):
        barrier.wait()
        codes.append(c.post(url, data={"done": "1", "csrf_token": token}, headers=HX).status_code)

    threads = [threading.Thread(target=go, args=pair) for pair in zip(clients, tokens)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [200, 409]  # done once, by the first; the second is told who (tests/test_todo.py)
    db.session.expire_all()
    events = list(db.session.scalars(sa.select(ItemEvent).where(ItemEvent.item_id == item.id)))
    done = db.session.get(RunItem, item.id)
    assert done.done_at is not None and [e.user_id for e in events] == [done.done_by_id]


def test_manager_reassigns_an_item(client, auth):
    run = onboarding_run()
    item = item_where(run, "安排带教师傅")
    auth.login("fo.manager")
    r = auth.post(f"/checklists/runs/{run.id}/items/{item.id}/reassign", {"username": "fo.staff"},
                  token_from=f"/checklists/runs/{run.id}")
    assert r.status_code == 303
    auth.logout()
    auth.login("fo.staff")
    assert tick(auth, run, item).status_code == 200
    assert f"/checklists/runs/{run.id}" in client.get("/checklists/").get_data(as_text=True)


# Recurring ---------------------------------------------------------------------------------------


def test_schedule_is_idempotent_and_follows_the_schedule(app):
    runner = app.test_cli_runner()
    day = (date.today() + timedelta(days=1)).isoformat()  # the demo already scheduled today
    first = runner.invoke(args=["checklists", "schedule", "--date", day])
    second = runner.invoke(args=["checklists", "schedule", "--date", day])
    assert "5 created" in first.output and "0 created" in second.output  # 夜审前检查 + one per hotline shift (4)
    keys = set(db.session.scalars(sa.select(ChecklistRun.dedupe_key).where(ChecklistRun.kind == "recurring",
                                                                         ChecklistRun.run_date == date.fromisoformat(day))))
    assert len(keys) == 5


def test_a_per_shift_checklist_runs_for_whoever_is_rostered_on_the_shift(client, auth):
    from app.rosters.models import RosterEntry, ShiftType, Team
    day = date.today() + timedelta(days=1)
    team = db.session.scalar(sa.select(Team).where(Team.code == "CS-HOTLINE"))
    db.session.execute(sa.delete(RosterEntry).where(RosterEntry.team_id == team.id, RosterEntry.day == day))
    late = db.session.scalar(sa.select(ShiftType).where(ShiftType.team_id == team.id, ShiftType.code == "L"))
    db.session.add(RosterEntry(team_id=team.id, shift_type_id=late.id, user_id=user("cs.agent").id, day=day))
    runs = [r for r in schedule(day) if r.shift_type_id]
    db.session.commit()
    assert sorted(r.title for r in runs) == sorted(f"客服中心开班与收班检查 · {n}" for n in ("午班", "下午班", "傍晚班", "晚班"))
    with_mine = [r for r in runs if r.shift_type_id == late.id]
    for r in runs:
        r.run_date = date.today()  # look at them as today's
    for e in db.session.scalars(sa.select(RosterEntry).where(RosterEntry.day == day, RosterEntry.team_id == team.id)):
        e.day = date.today() + timedelta(days=400)  # move the roster entry with them, out of today's way
    db.session.execute(sa.delete(RosterEntry).where(RosterEntry.team_id == team.id, RosterEntry.day == date.today()))
    db.session.add(RosterEntry(team_id=team.id, shift_type_id=late.id, user_id=user("cs.agent").id, day=date.today()))
    db.session.commit()
    auth.login("cs.agent")
    mine = client.get("/checklists/").get_data(as_text=True)
    assert f"/checklists/runs/{with_mine[0].id}" in mine
    assert all(f"/checklists/runs/{r.id}\"" not in mine for r in runs if r.shift_type_id != late.id)


def test_weekly_schedule_runs_only_on_its_days(app, checklists_dir):
    write(checklists_dir, "weekly.md", "---\nid: CL-WEEKLY\ntitle: 周检\nkind: recurring\nschedule:\n  weekly: [mon, thu]\n"
          "departments: [IT支持部]\n---\n- [ ] 检查备份\n")
    sync_templates(checklists_dir)
    monday = date(2026, 11, 23)
    titles = lambda day: {r.title for r in schedule(day)}  # noqa: E731
    assert "周检" in titles(monday) and "周检" not in titles(monday + timedelta(days=1))


def test_team_run_shows_on_the_home_page_of_whoever_works_it(client, auth):
    schedule(date.today())
    db.session.commit()
    auth.login("fo.night")
    assert "夜审前检查" in client.get("/").get_data(as_text=True)
    auth.logout()
    auth.login("fo.staff")
    assert "夜审前检查" not in client.get("/").get_data(as_text=True)


def test_history_draws_completion_by_day_and_lists_missed_runs(client, auth):
    schedule(date.today() - timedelta(days=2))
    schedule(date.today())
    db.session.commit()
    auth.login("fo.manager")
    html = client.get("/checklists/templates/CL-FO-NA-PRECHECK").get_data(as_text=True)
    assert '<svg class="chart"' in html and 'class="bar bar-missed"' in html
    assert str(date.today() - timedelta(days=2)) in html.split('id="missed"')[1]


# Pages -------------------------------------------------------------------------------------------


def test_my_onboarding_timeline(client, auth):
    auth.login("newhire")
    html = client.get("/onboarding").get_data(as_text=True)
    week = html.split('id="onboarding-week"')[1].split('id="onboarding-later"')[0]
    assert "领取工牌和工服" in week
    assert "新员工 30 天面谈" in html.split('id="onboarding-later"')[1]


@THREE_WAYS
def test_manager_overview_of_new_hires(client, auth, headers, fragment):
    auth.login("fo.manager")
    html = page_or_fragment(client, "/checklists/team", headers, fragment, '<section id="team-onboarding"')
    assert "林晓" in html and 'hx-trigger="every 5s"' in html


def test_an_sop_with_a_task_list_runs_as_an_ad_hoc_checklist(client, auth):
    auth.login("fo.night")
    page = client.get("/sops/FO-NA-001").get_data(as_text=True)
    assert "按本规程执行" in page
    r = auth.post("/sops/FO-NA-001/run", token_from="/sops/FO-NA-001")
    assert r.status_code == 303
    run = db.session.get(ChecklistRun, int(r.headers["Location"].rsplit("/", 1)[1]))
    assert run.kind == "adhoc" and run.items and run.sop_revision_id == _current("FO-NA-001")
    assert "按本规程执行" not in client.get("/sops/CS-FU-001").get_data(as_text=True)  # no task list
    r = auth.post("/sops/CS-FU-001/run", token_from="/sops/CS-FU-001", follow_redirects=True)
    assert "没有可执行的任务清单" in r.get_data(as_text=True)


def test_schedule_skips_a_team_renamed_since_the_template_was_synced(app):
    from app.org import Department
    cs = db.session.scalar(sa.select(Department).where(Department.code == "CS"))
    cs.name = "客户服务中心"
    db.session.commit()
    from app.checklists.models import ChecklistTemplate
    daily = db.session.scalar(sa.select(ChecklistTemplate).where(ChecklistTemplate.code == "CL-FO-NA-PRECHECK"))
    meta = daily.current.meta
    daily.current.meta_json = __import__("json").dumps({**meta, "departments": ["前厅部", "客服中心"]})
    db.session.commit()  # as if the template had named the department before it was renamed
    titles = [r.title for r in schedule(date.today() + timedelta(days=2))]
    assert titles.count("夜审前检查") == 1  # 前厅部's run; the renamed one is skipped (and logged), nothing fails


def test_a_shift_run_is_readable_by_whoever_is_rostered_on_it(client, auth):
    """"My checklists" lists a per-shift run to the person rostered on it, so its page opens for them too, even
    when their position is not among the template's (cs.agent5 is a 投诉专员); the next shift's run does not."""
    from app.rosters.models import RosterEntry, Team
    today = date.today()
    team = db.session.scalar(sa.select(Team).where(Team.code == "CS-HOTLINE"))
    a, b = (next(s for s in team.shift_types if s.code == code) for code in ("A", "B"))
    agent = user("cs.agent5")
    db.session.execute(sa.delete(RosterEntry).where(RosterEntry.user_id == agent.id, RosterEntry.day == today))
    db.session.add(RosterEntry(team_id=team.id, shift_type_id=a.id, user_id=agent.id, day=today))
    schedule(today)
    db.session.commit()
    run_of = lambda st: db.session.scalar(sa.select(ChecklistRun).where(  # noqa: E731
        ChecklistRun.shift_type_id == st.id, ChecklistRun.run_date == today))
    auth.login("cs.agent5")
    assert run_of(a).title in client.get("/checklists/").get_data(as_text=True)
    assert client.get(f"/checklists/runs/{run_of(a).id}").status_code == 200
    assert client.get(f"/checklists/runs/{run_of(b).id}").status_code == 403


def test_template_history_counts_only_the_departments_the_manager_manages(client, auth):
    """A template's statistics are read by managers of the departments it is for, and show their runs only."""
    from app.checklists.runs import start
    from app.org import Department
    template = db.session.scalar(sa.select(ChecklistTemplate).where(ChecklistTemplate.code == "CL-FO-NA-PRECHECK"))
    it = db.session.scalar(sa.select(Department).where(Department.code == "IT"))
    other = start(template.title, "recurring", template.current.items, date.today() - timedelta(days=2),
                  revision=template.current, department=it)
    schedule(date.today() - timedelta(days=2))
    db.session.commit()
    link = f'/checklists/runs/{other.id}"'
    auth.login("fo.manager")
    html = client.get("/checklists/templates/CL-FO-NA-PRECHECK").get_data(as_text=True)
    assert 'id="missed"' in html and link not in html
    auth.logout()
    auth.login("it.manager")  # IT is not what the template is for: its name alone does not open the page
    assert client.get("/checklists/templates/CL-FO-NA-PRECHECK").status_code == 403
    auth.logout()
    auth.login("admin")
    assert link in client.get("/checklists/templates/CL-FO-NA-PRECHECK").get_data(as_text=True)


# Photo evidence -------------------------------------------------------------------------------------------


def png(width: int = 4, height: int = 3) -> bytes:
    """A real (tiny, grey) PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\0" + b"\x80" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def precheck_run() -> ChecklistRun:
    schedule(date.today())
    db.session.commit()
    return db.session.scalar(sa.select(ChecklistRun).where(ChecklistRun.dedupe_key.like("recurring:CL-FO-NA-PRECHECK:%")))


def test_photo_annotation_is_parsed():
    items = parse_items("- [ ] 保险柜已上锁 {照片}\n- [ ] Safe locked {photo}", 1, set())
    assert [(i.text, i.evidence) for i in items] == [("保险柜已上锁", "photo"), ("Safe locked", "photo")]


def test_a_photo_item_offers_the_camera_and_needs_a_photo(client, auth):
    auth.login("fo.night")
    run = precheck_run()
    item = item_where(run, "保险柜")
    html = client.get(f"/checklists/runs/{run.id}").get_data(as_text=True)
    form = re.search(rf'<form[^>]*items/{item.id}"[^>]*>.*?</form>', html, re.S).group(0)
    assert 'enctype="multipart/form-data"' in form
    assert re.search(r'<input type="file" name="photo" accept="image/\*" capture="environment" required>', form)
    r = tick(auth, run, item)
    assert r.status_code == 422 and "请拍一张照片" in r.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(RunItem, item.id).done_at is None


def test_a_photo_is_kept_shown_and_served_to_those_who_may_see_the_run(app, client, auth):
    auth.login("fo.night")
    run = precheck_run()
    item = item_where(run, "保险柜")
    r = tick(auth, run, item, photo=(io.BytesIO(png()), "IMG_0001.HEIC"))  # the name is not what counts
    assert r.status_code == 200
    photo = db.session.scalar(sa.select(ItemPhoto).where(ItemPhoto.item_id == item.id))
    assert photo.content_type == "image/png" and photo.data == png() and photo.size == len(png())
    assert photo.uploaded_by_id == user("fo.night").id
    url = f"/checklists/runs/{run.id}/photos/{photo.id}"
    assert f'src="{url}"' in r.get_data(as_text=True)  # the ticked item shows it at once
    assert f'src="{url}"' in client.get(f"/checklists/runs/{run.id}").get_data(as_text=True)
    served = client.get(url)
    assert served.status_code == 200 and served.mimetype == "image/png" and served.data == png()
    assert served.headers["X-Content-Type-Options"] == "nosniff" and served.cache_control.no_store
    event = db.session.scalar(sa.select(ItemEvent).where(ItemEvent.item_id == item.id))
    assert f'"photo": {photo.id}' in event.detail
    assert client.get(f"/checklists/runs/{run.id}/photos/{photo.id + 1000}").status_code == 404
    other = onboarding_run()  # the photo's id under another run that the user may see is not found
    auth.logout()
    auth.login("newhire")
    assert client.get(url).status_code == 403  # not the new hire's run
    assert client.get(f"/checklists/runs/{other.id}/photos/{photo.id}").status_code == 404
    with pytest.raises(Exception, match="append-only"):
        db.session.execute(sa.update(ItemPhoto).values(size=1))
        db.session.flush()
    db.session.rollback()


@pytest.mark.parametrize("fake", [b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
                                  b"MZ\x90\x00 an executable renamed to .jpg", b"GIF89a not a camera photo", b""])
def test_a_file_that_is_not_a_photo_is_refused_and_the_item_stays_open(client, auth, fake):
    auth.login("fo.night")
    run = precheck_run()
    item = item_where(run, "保险柜")
    r = tick(auth, run, item, photo=(io.BytesIO(fake), "photo.jpg"))
    assert r.status_code == 422
    assert ("不是照片" if fake else "请拍一张照片") in r.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(RunItem, item.id).done_at is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ItemPhoto)) == 0


def test_an_oversized_photo_is_refused_with_the_limit(app, client, auth):
    app.config["CHECKLIST_PHOTO_MAX_BYTES"] = 100 * 1024  # small, so the test client keeps the upload in memory
    auth.login("fo.night")
    run = precheck_run()
    item = item_where(run, "保险柜")
    big = b"\xff\xd8\xff\xe0" + b"\0" * (300 * 1024)
    r = tick(auth, run, item, photo=(io.BytesIO(big), "big.jpg"))
    assert r.status_code == 413
    text = r.get_data(as_text=True)
    assert "照片大小为 0.3 MB，上限为 0.1 MB" in text
    db.session.expire_all()
    assert db.session.get(RunItem, item.id).done_at is None
    r = tick(auth, run, item, headers={}, photo=(io.BytesIO(big), "big.jpg"))  # without JavaScript
    assert r.status_code == 303
    assert "上限为 0.1 MB" in client.get(r.headers["Location"]).get_data(as_text=True)
    assert tick(auth, run, item, photo=(io.BytesIO(b"\xff\xd8\xff\xe0" + b"\0" * 1000), "ok.jpg")).status_code == 200


def test_the_record_shows_local_times_and_a_readable_history(client, auth):
    """Times on the wall clock (BABEL_DEFAULT_TIMEZONE, Asia/Shanghai), never UTC; a note reads as a note, not JSON."""
    auth.login("newhire")
    run = onboarding_run()
    item = run.items[0]
    tick(auth, run, item, note="钥匙已领")
    db.session.expire_all()
    done_at = db.session.get(RunItem, item.id).done_at.replace(tzinfo=timezone.utc)
    local = done_at.astimezone(timezone(timedelta(hours=8)))
    html = client.get(f"/checklists/runs/{run.id}/record").get_data(as_text=True)
    assert f"{local:%Y-%m-%d %H:%M}" in html and f"{local:%Y-%m-%d %H:%M:%S}" in html and "UTC" not in html
    assert "备注：钥匙已领" in html and '{"note"' not in html and "&#34;note&#34;" not in html
    item_html = client.get(f"/checklists/runs/{run.id}").get_data(as_text=True)
    assert f"{local:%Y-%m-%d %H:%M}" in item_html and "UTC" not in item_html
    event = db.session.scalar(sa.select(ItemEvent).where(ItemEvent.item_id == item.id))
    assert event.at.replace(tzinfo=None) == done_at.replace(tzinfo=None)  # the history line is the tick's own instant


def test_an_sop_item_shows_one_deadline(client, auth):
    """The item's due date is the plan's; the sign panel inside it does not add the SOP's own 你须在…前签署."""
    auth.login("newhire")
    run = onboarding_run()
    sop_item = item_where(run, "前台入住登记流程")
    item = client.get(f"/checklists/runs/{run.id}/items/{sop_item.id}", headers=HX).get_data(as_text=True)
    assert f"{sop_item.due} 到期" in item
    inside = client.get("/sops/FO-CI-001/ack?deadline=0", headers=HX).get_data(as_text=True)
    assert 'id="ack-panel"' in inside and "前签署" not in inside and 'name="deadline" value="0"' in inside
    alone = client.get("/sops/FO-CI-001/ack", headers=HX).get_data(as_text=True)
    assert "你须在" in alone  # on the SOP page the panel still says when to sign


# Many runs: the home panel and 我的清单 cut and page in SQL ---------------------------------------------------


def it_runs(app, n: int = 10) -> list[str]:
    """n onboarding runs of fo.staff, each with an @IT item overdue by a different number of days, created in a
    shuffled order (neither the id nor the start date gives the urgency). Their titles, most urgent first."""
    person = user("fo.staff")
    order = [3, 7, 0, 9, 5, 1, 8, 2, 6, 4][:n] if n <= 10 else list(range(n))
    for k in order:
        run = ChecklistRun(kind="onboarding", title=f"入职计划 IT-{k:02d}", assignee_id=person.id,
                           department_id=person.department_id, run_date=date.today() - timedelta(days=k % 3))
        run.items = [RunItem(position=0, text="开通账号", role="it", due=date.today() - timedelta(days=200 - k))]
        db.session.add(run)
    db.session.commit()
    return [f"入职计划 IT-{k:02d}" for k in range(n)]


RUN_LINK = re.compile(r'<a href="/checklists/runs/\d+">([^<]+)</a>')


def test_the_home_panel_shows_the_most_urgent_runs_and_counts_the_rest(app, client, auth):
    urgent = it_runs(app)
    auth.login("it.hotline")
    total = int(re.search(r"未完成的清单：(\d+) 份", client.get("/checklists/").get_data(as_text=True)).group(1))
    assert total > len(urgent)  # and the new hire's own onboarding run, with its @IT items
    home = client.get("/").get_data(as_text=True)
    panel = home[home.index('id="checklists-panel"'):]
    panel = panel[:panel.index("</section>")]
    assert RUN_LINK.findall(panel) == urgent[:6]
    assert f"还有 {total - 6} 份清单" in panel and 'href="/checklists/"' in panel


def test_my_checklists_page_by_page_most_urgent_first(app, client, auth, monkeypatch):
    monkeypatch.setattr("app.checklists.views.PER_PAGE", 4)
    urgent = it_runs(app)
    auth.login("it.hotline")
    first = client.get("/checklists/").get_data(as_text=True)
    total = int(re.search(r"未完成的清单：(\d+) 份", first).group(1))
    pages = -(-total // 4)
    assert pages >= 3 and 'href="/checklists/?page=2"' in first and f'href="/checklists/?page={pages}"' in first
    seen = RUN_LINK.findall(first)
    assert seen == urgent[:4]
    for page in range(2, pages + 1):
        html = client.get(f"/checklists/?page={page}").get_data(as_text=True)
        assert f'<span aria-current="page">{page}</span>' in html
        seen += RUN_LINK.findall(html)
    assert seen[:len(urgent)] == urgent and len(seen) == len(set(seen)) == total
    past = client.get(f"/checklists/?page={pages + 1}").get_data(as_text=True)
    assert "这一页已超出列表末尾" in past and RUN_LINK.findall(past) == []
    assert RUN_LINK.findall(client.get("/checklists/?page=x").get_data(as_text=True)) == urgent[:4]
