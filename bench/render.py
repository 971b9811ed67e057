"""Form render: the HTML page of the largest form (server time) against rendering its template alone.

A subject of the bundled study gets a saved record of SCREEN/IE; a Flask
test client signed in through the login page (as site staff) then GETs the
form page. The template and the keyword arguments the view hands to
``render_template`` are captured during one warm-up GET (the view's module
attribute ``render_template`` is wrapped for that one request, nothing under
``ecrf/`` is edited); after each timed GET, the same template is rendered
with that same context in a request context of the same user, timed alone.
The page time includes everything the view does besides rendering (session
and user lookups, the subject, the record, queries, the WTForms form).
"""

from __future__ import annotations

import time
from contextlib import contextmanager

from bench.common import (
    BIG_FORM,
    COUNTER,
    STUDY,
    bundled_app,
    get_ok,
    median,
    ms,
    percentile,
    progress,
    signed_in_client,
)
from bench.save import big_form_data

USER = "staff01"


def page_path(subject: str, event: str = BIG_FORM[0], form: str = BIG_FORM[1]) -> str:
    """The HTML form page of one form instance."""
    return f"/studies/{STUDY}/subjects/{subject}/events/{event}/forms/{form}"


def saved_subject(app) -> str:
    """A registered subject of site 01 with the largest form saved (engine write path)."""
    from ecrf.records.save import save_record
    from ecrf.studies import study_runtime
    from ecrf.subjects import register_subject
    from ecrf.users import get_user

    with app.app_context():
        runtime = study_runtime(STUDY)
        user = get_user(USER)
        subject = register_subject(runtime, user, "01").subject_id
        save_record(runtime, user, subject, *BIG_FORM, big_form_data())
    return subject


@contextmanager
def capturing_render():
    """Record the template name and keyword arguments the records view passes to ``render_template``."""
    import ecrf.views.records as view

    captured: dict = {}
    original = view.render_template

    def recorder(name, **context):
        captured.update(name=name, context=context)
        return original(name, **context)

    view.render_template = recorder
    try:
        yield captured
    finally:
        view.render_template = original


def capture_context(client, path: str) -> tuple[str, dict, int]:
    """``(template name, view's context, page length)`` of one GET of ``path``."""
    with capturing_render() as captured:
        html = get_ok(client, path)
    if not captured:
        raise RuntimeError(f"GET {path} did not call the records view's render_template")
    return captured["name"], captured["context"], len(html)


@contextmanager
def user_request(app, path: str):
    """A request context for ``path`` with :data:`USER` logged in (what templates read from the request)."""
    from flask_login import login_user

    from ecrf.users import get_user

    with app.test_request_context(path):
        login_user(get_user(USER))
        yield


def timed_get(client, path: str) -> float:
    """Wall seconds of one GET of ``path`` (which must answer 200)."""
    t0 = time.perf_counter()
    response = client.get(path)
    elapsed = time.perf_counter() - t0
    if response.status_code != 200:
        raise RuntimeError(f"GET {path} answered {response.status_code}")
    return elapsed


def timed_renders(app, path: str, name: str, context: dict) -> tuple[float, float, int]:
    """Wall seconds of ``flask.render_template(name, **context)`` and of ``template.render`` alone, and the length.

    ``render_template`` runs the context processors (``update_template_context``)
    and the Jinja render; ``template.render`` is then given the context they made.
    Both inside one request context of :data:`USER` (set up outside the timings).
    """
    from flask import current_app, render_template

    with user_request(app, path):
        template = current_app.jinja_env.get_template(name)
        full = dict(context)
        current_app.update_template_context(full)
        t0 = time.perf_counter()
        html = render_template(name, **context)
        flask_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        template.render(full)
        jinja_s = time.perf_counter() - t0
    return flask_s, jinja_s, len(html)


def commands_per_get(client, path: str) -> dict:
    """Database commands one GET of ``path`` sends (counted when the run installed the command counter)."""
    COUNTER.reset()
    get_ok(client, path)
    return {"count": COUNTER.count, "by_name": COUNTER.snapshot()}


def measure(app, client, path: str, name: str, context: dict, requests: int) -> dict:
    """``requests`` GETs of the page, each followed by the two renders of its template (interleaved)."""
    times: dict[str, list[float]] = {"get": [], "render_template": [], "template_render": []}
    timed_renders(app, path, name, context)  # warm-up
    for _ in range(requests):
        times["get"].append(timed_get(client, path))
        flask_s, jinja_s, length = timed_renders(app, path, name, context)
        times["render_template"].append(flask_s)
        times["template_render"].append(jinja_s)
    return {**times, "length": length}


def summary(times: list[float]) -> dict:
    """p50 and p95 in milliseconds."""
    return {"p50_ms": ms(median(times)), "p95_ms": ms(percentile(times, 95)), "n": len(times)}


def run(uri: str, quick: bool) -> dict:
    """GET of the SCREEN/IE page vs rendering its template with the same context; ``form_render_*`` keys."""
    requests, warmup = (60, 5) if quick else (400, 20)
    progress(f"render: {'/'.join(BIG_FORM)} page, {requests} GETs, each followed by a render of its template")
    app = bundled_app(uri)
    subject = saved_subject(app)
    path = page_path(subject)
    client = signed_in_client(app, USER)
    for _ in range(warmup):
        get_ok(client, path)
    name, context, page_length = capture_context(client, path)
    times = measure(app, client, path, name, context, requests)
    commands = commands_per_get(client, path)
    get_s, render_s, jinja_s = (summary(times[key]) for key in ("get", "render_template", "template_render"))
    return {
        "form_render_p50_ms": get_s["p50_ms"],
        "form_render_p95_ms": get_s["p95_ms"],
        "form_jinja_render_p50_ms": render_s["p50_ms"],
        "form_render_vs_jinja_ratio": round(get_s["p50_ms"] / render_s["p50_ms"], 2),
        "form_render_db_commands": commands["count"],
        "details_render": {
            "form": "/".join(BIG_FORM), "template": name, "page_bytes": page_length,
            "rendered_bytes": times["length"], "get": get_s, "render_template": render_s,
            "template_render_only": jinja_s, "db_commands_per_get": commands, "context_keys": sorted(context),
        },
    }
