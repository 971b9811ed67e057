"""A subject with 10,000 audit events on the real wire server: one numbered sequence, paged by key, filtered.

The events are appended through the trail's own API (tests/long_history.py); every page is checked against
the whole trail read once in order, and every read the pages send is planned on an index.
"""

import datetime as dt
import re
import zoneinfo

import pytest
from conftest import Api, login, sent_commands
from long_history import append_long_history
from test_query_plans import planned_stage

pytestmark = pytest.mark.integration
EVENTS = 10_000


@pytest.fixture(scope="module")
def long_subject(tmp_path_factory, wire_uri):
    from conftest import make_app

    app = make_app(tmp_path_factory.mktemp("history"), wire_uri)
    subject = Api(app.test_client(), app.tokens["staff01"]).register()
    with app.app_context():
        append_long_history("MINI", subject, "01", EVENTS)
        from ecrf.trail import audit_store, flush_checkpoints

        flush_checkpoints()  # now, while the server runs (else at exit, after the session's server has stopped)

        every = list(audit_store().collection.find({"context.study": "MINI", "context.subject": subject},
                                                    {"at": 1, "stream": 1, "seq": 1, "actor": 1, "changes.path": 1,
                                                     "context": 1}))
    every.sort(key=lambda e: (e["at"], e["stream"], e["seq"]))
    return app, subject, every


def _pages(app, subject, wanted=None, per_page=50, limit=None):
    from ecrf.studies import study_runtime
    from ecrf.subject_history import subject_history
    from ecrf.users import get_user

    with app.app_context():
        runtime, user = study_runtime("MINI"), get_user("dm")
        page = subject_history(runtime, user, subject, wanted, per_page=per_page)
        pages = [page]
        while page.after and (limit is None or len(pages) < limit):
            page = subject_history(runtime, user, subject, wanted, after=page.after, per_page=per_page)
            pages.append(page)
        return pages


def _numbered(every, holds):
    return [(number, (e["stream"], e["seq"])) for number, e in enumerate(every, 1) if holds(e)]


def _shown(pages):
    return [(e["number"], (e["stream"], e["seq"])) for page in pages for e in page.events]


def test_the_whole_trail_pages_through_in_one_sequence(long_subject):
    app, subject, every = long_subject
    assert len(every) == EVENTS + 1  # and the registration
    pages = _pages(app, subject, per_page=1000)
    assert _shown(pages) == _numbered(every, lambda e: True)
    assert [len(p.events) for p in pages] == [1000] * 10 + [1]
    assert pages[-1].after is None and pages[0].before is None


def test_a_page_costs_about_its_own_events_not_the_subjects(long_subject):
    app, subject, _ = long_subject
    first, second, third = _pages(app, subject, limit=3)
    assert max(p.scanned for p in (first, second, third)) < 1000  # of 10,001: windows, never the whole trail


def test_previous_goes_back_to_the_same_events_and_numbers(long_subject):
    from ecrf.studies import study_runtime
    from ecrf.subject_history import subject_history
    from ecrf.users import get_user

    app, subject, _ = long_subject
    pages = _pages(app, subject, limit=4)
    with app.app_context():
        back = subject_history(study_runtime("MINI"), get_user("dm"), subject, before=pages[3].before)
    assert _shown([back]) == _shown([pages[2]])
    assert back.before is not None and back.after is not None


@pytest.mark.parametrize("name, wanted, holds", [
    ("by person", {"actor": "mon01"}, lambda e: e["actor"] == "mon01"),
    ("by item", {"item": "/WEIGHT"}, lambda e: any(c["path"] == "/WEIGHT" for c in e.get("changes", []))),
    ("by item, its queries", {"item": "/HEIGHT"}, lambda e: (e.get("context") or {}).get("item") == "/HEIGHT"),
    ("by form and person", {"form": "VS", "actor": "dm"},
     lambda e: (e.get("context") or {}).get("form") == "VS" and e["actor"] == "dm"),
])
def test_filters_keep_each_events_number_in_the_whole_sequence(long_subject, name, wanted, holds):
    from ecrf.subject_history import HistoryFilter

    app, subject, every = long_subject
    pages = _pages(app, subject, HistoryFilter(**wanted), limit=3)
    expected = _numbered(every, holds)
    shown = _shown(pages)
    assert shown == expected[:len(shown)] and len(shown) == min(150, len(expected))


def test_a_date_filter_starts_at_the_sites_midnight(long_subject):
    from ecrf.subject_history import HistoryFilter

    app, subject, every = long_subject
    tomorrow = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=2)
    assert _shown(_pages(app, subject, HistoryFilter(since=tomorrow))) == []
    today = every[-1]["at"].date()
    pages = _pages(app, subject, HistoryFilter(until=today - dt.timedelta(days=2)))
    assert _shown(pages) == []


def test_the_page_reads_only_through_the_subjects_index(long_subject):
    app, subject, _ = long_subject
    client = app.test_client()
    login(client, "mon01")
    with sent_commands(whole=True) as sent:
        first = client.get(f"/studies/MINI/subjects/{subject}/audit?actor=mon01")
        assert first.status_code == 200
        after = re.search(r'rel="next" href="([^"]+)"', first.get_data(as_text=True)).group(1).replace("&amp;", "&")
        assert client.get(after).status_code == 200
    reads = [command for name, command in sent if name == "find audit_events"]
    with app.app_context():
        from ecrf.db import database

        plans = [planned_stage(database(), command) for command in reads]
    assert plans and all("COLLSCAN" not in stage for stage in plans), plans


def test_a_page_key_that_was_edited_is_refused_naming_it(long_subject):
    app, subject, _ = long_subject
    client = app.test_client()
    login(client, "dm")
    page = client.get(f"/studies/MINI/subjects/{subject}/audit").get_data(as_text=True)
    after = re.search(r'rel="next" href="[^"]*after=([^"&]+)', page).group(1)
    edited = client.get(f"/studies/MINI/subjects/{subject}/audit?after={after[:-2]}xx")
    assert edited.status_code == 422 and "Next: not a key this page gave" in edited.get_data(as_text=True)
    bad_date = client.get(f"/studies/MINI/subjects/{subject}/audit?since=2026-13-40")
    assert bad_date.status_code == 422 and "From: a date as YYYY-MM-DD" in bad_date.get_data(as_text=True)


DAYS, PER_DAY = 300, 10
SITE_ZONE = zoneinfo.ZoneInfo("Asia/Shanghai")  # site 01's zone (tests/conftest.py)


@pytest.fixture(scope="module")
def spread_subject(long_subject):
    """A second subject whose 3,000 events are spread over 300 days (ten a day), straight into the store."""
    app, _, _ = long_subject
    subject = Api(app.test_client(), app.tokens["staff01"]).register()
    with app.app_context():
        from ecrf.trail import audit_store

        now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
        start = now - dt.timedelta(days=DAYS)
        stream = f"record/MINI/{subject}/SCREEN/VS"
        context = {"study": "MINI", "subject": subject, "site": "01", "event": "SCREEN", "form": "VS"}
        audit_store().collection.insert_many([
            {"stream": stream, "seq": n, "at": start + dt.timedelta(days=DAYS) * n / (DAYS * PER_DAY),
             "actor": "staff01", "action": "update", "context": context,
             "changes": [{"path": "/WEIGHT" if n % 50 == 0 else "/HEIGHT", "old": 1, "new": 2}]}
            for n in range(1, DAYS * PER_DAY)])
        every = list(audit_store().collection.find({"context.study": "MINI", "context.subject": subject}))
    every.sort(key=lambda e: (e["at"], e["stream"], e["seq"]))
    return app, subject, every


def _index_reads(app, subject, wanted):
    """The first page under ``wanted`` and the index documents its reads returned (after a first view)."""
    _pages(app, subject, limit=1)  # the first view indexes the subject (as the bench warms up each shape)
    with sent_commands() as sent:
        page = _pages(app, subject, wanted, limit=1)[0]
    return page, sent


def test_a_rare_item_page_reads_a_few_hundred_index_documents(long_subject):
    from ecrf.subject_history import HistoryFilter

    app, subject, every = long_subject
    page, sent = _index_reads(app, subject, HistoryFilter(item="/WEIGHT"))
    weight = _numbered(every, lambda e: any(c["path"] == "/WEIGHT" for c in e.get("changes", [])))
    assert _shown([page]) == weight[:50]  # one event in 50: the page spans about 2,500 numbers
    assert page.scanned <= 300, page.scanned
    assert sent.count("find audit_events") == 2  # the index brought up to date, then the page's events by id


def test_a_date_page_reads_only_the_index_documents_near_its_bounds(spread_subject):
    from ecrf.subject_history import HistoryFilter

    app, subject, every = spread_subject
    day = lambda e: e["at"].astimezone(SITE_ZONE).date()  # noqa: E731 (days at the site)
    middle = day(every[len(every) // 2])
    wanted = HistoryFilter(since=middle, until=middle + dt.timedelta(days=2))
    page, _ = _index_reads(app, subject, wanted)
    inside = _numbered(every, lambda e: middle <= day(e) <= middle + dt.timedelta(days=2))
    assert 20 <= len(inside) <= 40 and _shown([page]) == inside
    assert page.scanned <= 200, page.scanned  # of 3,000: the days next to the bounds, never the whole trail
    later = _pages(app, subject, HistoryFilter(since=middle), limit=2)
    assert _shown(later) == _numbered(every, lambda e: day(e) >= middle)[:100]
    assert max(p.scanned for p in later) <= 300
