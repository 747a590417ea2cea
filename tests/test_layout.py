"""Issue #12 without a browser: the month grid's warnings filter, the sign panel's ids and focus hints, labelled
task-list checkboxes, selects and progress bars, plain result links, the favicon and the chart's last label.
What the user sees is measured in tests/test_browser_layout.py."""
import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.rosters.shifts import local_today
from app.sops.models import Sop
from app.sops.render import render_markdown
from tests.conftest import HX
from tests.test_rosters import clear, put, team, user


def current_revision_id(code: str) -> int:
    return db.session.scalar(sa.select(Sop.current_revision_id).where(Sop.code == code))


# 3. The month grid: "not signed" warnings as a count per cell, with a filter ---------------------------------------

@pytest.fixture
def busy_month(app):
    """newhire works two nights without having signed the night SOPs; fo.staff is booked twice on one day."""
    t = team()
    clear(t)
    today = local_today()  # the hotel's wall-clock day (ROSTER_TIMEZONE), not the machine's UTC one
    other = today - timedelta(days=1) if today.day > 1 else today + timedelta(days=1)  # both nights in this month
    for d in (other, today):
        put(t, "newhire", "N", d)
    put(t, "fo.staff", "D", today)
    put(t, "fo.staff", "E", today)
    return today


def cell(html: str, username: str, day: date) -> str:
    cell_id = f'id="cell-{user(username).id}-{day.isoformat()}"'
    return html.split(cell_id)[1].split("</td>")[0]


def test_month_grid_counts_unsigned_sops_per_cell_and_lists_rule_breaks(client, auth, busy_month):
    today = busy_month
    auth.login("fo.manager")
    html = client.get(f"/rosters/FO-DESK/month?m={today:%Y-%m}").get_data(as_text=True)
    night = cell(html, "newhire", today)
    # One count per cell (two SOPs unsigned for the night shift), read out in words, no warning box.
    assert re.search(r'<span class="unsigned-count" aria-hidden="true">2</span>', night)
    assert '<span class="visually-hidden">未签署 FO-HO-001、FO-NA-001</span>' in night
    assert "rcell-warn" not in html.split(f'id="cell-{user("newhire").id}-{today.isoformat()}"')[0].rsplit("<td", 1)[1]
    # The list below shows the rule break and sums up the unsigned shifts in one line.
    violations = html.split('id="violations"')[1]
    assert 'id="unsigned-summary"' in violations and "未签署" not in violations.split('id="unsigned-summary"')[1].split("</section>")[0].split("</p>", 1)[1]
    assert "rcell-bad" in html and "warn-mark" in cell(html, "fo.staff", today)
    assert re.search(r"<span[^>]*aria-label", html.split('id="roster-grid"')[1].split("</table>")[0]) is None
    # Today's column is marked for the scroll into view, and the grid box is a named, focusable region.
    assert 'class="today" aria-current="date"' in html or re.search(r'class="[^"]* today" aria-current="date"', html)
    assert 'data-scroll-today' in html and 'role="region"' in html


def test_month_grid_filter_lists_unsigned_or_only_rule_breaks(client, auth, busy_month):
    today = busy_month
    auth.login("fo.manager")
    unsigned = client.get(f"/rosters/FO-DESK/month?m={today:%Y-%m}&warnings=unsigned").get_data(as_text=True)
    violations = unsigned.split('id="violations"')[1]
    assert violations.count("未签署 FO-HO-001、FO-NA-001") == 2 and 'id="unsigned-summary"' not in violations
    assert "rcell-warn" in unsigned and "rcell-bad" not in unsigned
    assert '<option value="unsigned" selected>' in unsigned
    rules = client.get(f"/rosters/FO-DESK/month?m={today:%Y-%m}&warnings=rules").get_data(as_text=True)
    assert "unsigned-count" not in rules and "未签署" not in rules.split('id="roster-grid"')[1] and "rcell-bad" in rules
    for bad in ("bogus", "", "<script>"):
        r = client.get("/rosters/FO-DESK/month", query_string={"m": f"{today:%Y-%m}", "warnings": bad})
        assert r.status_code == 200 and 'unsigned-count' in r.get_data(as_text=True)  # the default view
    week = client.get(f"/rosters/FO-DESK/week?d={today}&warnings=unsigned").get_data(as_text=True)
    assert f'name="d" value="{today - timedelta(days=today.weekday())}"' in week and "rcell-warn" in week


# 17 / 18. The sign panel: ids per checklist item, focus and announcement hints -----------------------------------

def test_sign_panel_ids_are_unique_per_checklist_item_and_slot_is_checked(client, auth):
    auth.login("newhire")
    plain = client.get("/sops/FO-CI-001/ack", headers=HX).get_data(as_text=True)
    assert 'id="ack-panel"' in plain and 'id="ack-password"' in plain and 'name="slot"' not in plain
    item = client.get("/sops/FO-CI-001/ack?slot=item-7", headers=HX).get_data(as_text=True)
    ids = re.findall(r'\sid="([^"]+)"', item)
    assert ids and all(i.endswith("-item-7") for i in ids), ids
    assert 'aria-labelledby="ack-panel-h-item-7"' in item and '<input type="hidden" name="slot" value="item-7">' in item
    for bad in ('item-7"><script>', "x", "item-", "item-1234567890"):
        html = client.get("/sops/FO-CI-001/ack", query_string={"slot": bad}, headers=HX).get_data(as_text=True)
        assert 'id="ack-panel"' in html and "<script>" not in html


def test_checklist_run_asks_for_panels_with_their_item_slot(client, auth):
    auth.login("newhire")
    html = client.get("/onboarding").get_data(as_text=True)
    run_url = re.search(r'href="(/checklists/runs/\d+)"', html).group(1)
    run = client.get(run_url).get_data(as_text=True)
    slots = re.findall(r'hx-get="/sops/[^"?]+/ack\?deadline=0&amp;slot=(item-\d+)"', run)
    assert len(slots) >= 2 and len(set(slots)) == len(slots)


def test_wrong_password_marks_the_field_and_a_signature_is_announced(client, auth):
    auth.login("newhire")
    rev = current_revision_id("FO-CI-001")
    token = auth.token("/sops/FO-CI-001/ack")
    r = client.post("/sops/FO-CI-001/ack", headers=HX, data={"password": "nope", "revision_id": rev, "csrf_token": token,
                                                              "slot": "item-3"})
    html = r.get_data(as_text=True)
    assert r.status_code == 401
    assert 'data-focus="#ack-password-item-3"' in html and "data-announce" not in html
    assert re.search(r'id="ack-password-item-3"[^>]*aria-invalid="true" aria-describedby="ack-error-item-3"', html)
    assert 'role="alert" id="ack-error-item-3"' in html
    r = client.post("/sops/FO-CI-001/ack", headers=HX, data={"password": "demo-2026", "revision_id": rev, "csrf_token": token})
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and 'data-announce="已签署，谢谢。" data-focus="#ack-panel-h"' in html
    assert '<h2 id="ack-panel-h" tabindex="-1">' in html
    # A later look at the panel (page load) neither announces nor takes focus.
    again = client.get("/sops/FO-CI-001/ack", headers=HX).get_data(as_text=True)
    assert "data-announce" not in again and "data-focus" not in again


# 18. Names for controls axe found unnamed --------------------------------------------------------------------------

def test_task_list_checkboxes_are_named_after_their_item():
    html, _toc, _d = render_markdown('- [ ] 核对 **房号** 与 "证件"\n- [x] 打印登记单\n    - [ ] 交客人签名\n')
    assert '<input type="checkbox" disabled="" aria-label="核对 房号 与 &#34;证件&#34;">' in html
    assert 'checked="" aria-label="打印登记单">' in html and 'aria-label="交客人签名"' in html
    loose, _toc, _d = render_markdown("1. [ ] 第一步\n\n    说明文字\n")
    assert 'aria-label="第一步"' in loose and "说明文字\"" not in loose


def test_demo_sop_checkboxes_all_have_names(client, auth):
    auth.login("fo.staff")
    html = client.get("/sops/FO-NA-001").get_data(as_text=True)
    boxes = re.findall(r'<input type="checkbox"[^>]*>', html.split('class="sop-body"')[1])
    assert len(boxes) >= 7 and all(re.search(r'aria-label="[^"]+"', b) for b in boxes), boxes


def test_selects_and_progress_bars_have_names(client, auth):
    auth.login("fo.manager")
    handover = client.get("/rosters/FO-DESK/handover").get_data(as_text=True)
    assert re.search(r'<select name="item_category" aria-label="[^"]+">', handover)
    calendar = client.get("/rosters/calendar").get_data(as_text=True)
    assert re.search(r'<select name="team" aria-label="[^"]+">', calendar)
    auth.login("newhire")
    reading = client.get("/reading").get_data(as_text=True)
    m = re.search(r'role="progressbar" aria-labelledby="([^"]+)"', reading)
    assert m and f'id="{m.group(1)}"' in reading
    run_url = re.search(r'href="(/checklists/runs/\d+)"', client.get("/onboarding").get_data(as_text=True)).group(1)
    run = client.get(run_url).get_data(as_text=True)
    m = re.search(r'role="progressbar" aria-labelledby="([^"]+)"', run)
    assert m and f'id="{m.group(1)}"' in run


def test_search_results_are_a_plain_list_of_links(client, auth):
    auth.login("fo.staff")
    html = client.get("/search?q=投诉", headers=HX).get_data(as_text=True)
    assert 'class="result"' in html
    assert "listbox" not in html and 'role="option"' not in html and "aria-selected" not in html


# 8. Favicon and the chart's last label -----------------------------------------------------------------------------

def test_favicon_is_linked_and_served(client, auth):
    html = client.get("/login").get_data(as_text=True)
    href = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', html).group(1)
    with client.get(href) as r:
        assert r.status_code == 200 and b"<svg" in r.data
    with client.get("/favicon.ico", follow_redirects=True) as r:  # asked for without a page, e.g. by a bookmark
        assert r.status_code == 200 and b"<svg" in r.data


def test_completion_chart_ends_its_last_label_at_the_edge(client, auth):
    auth.login("fo.manager")
    html = client.get("/checklists/templates/CL-FO-NA-PRECHECK").get_data(as_text=True)
    labels = re.findall(r"<text ([^>]*)>([^<]+)</text>", html)
    assert labels[-1] == ('x="600" y="134" font-size="10" text-anchor="end"', date.today().strftime("%m-%d"))
