"""What the user administration tests share: a user's audit events, an administrator's browser, one action
posted from a user's page, the secret a page shows once, a clean ``ecrf audit verify``."""

import re

from conftest import login, token_in

from ecrf.db import database


def events(app, username: str) -> list[dict]:
    with app.app_context():
        return list(database().audit_events.find({"stream": f"user/{username}"}, sort=[("seq", 1)]))


def last_event(app, username: str) -> dict:
    return events(app, username)[-1]


def admin_page(app):
    client = app.test_client()
    login(client, "root")
    return client


def act(client, username: str, action: str, data: dict | None = None):
    page = client.get(f"/admin/users/{username}").get_data(as_text=True)
    return client.post(f"/admin/users/{username}/{action}", data={"csrf_token": token_in(page), **(data or {})})


def secret_in(page: str) -> str:
    return re.search(r'<pre id="new-secret"[^>]*>([^<]+)</pre>', page).group(1)


def verify_clean(app):
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
