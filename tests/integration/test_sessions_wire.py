"""Sessions end server-side on the real wire-protocol server: the user's session generation, raised in the
same update as the change that ends the sessions, refuses a copied cookie."""

import pytest
from conftest import PASSWORD, login, token_in

PAGE = "/studies/MINI/subjects"


def signed_out(client) -> bool:
    response = client.get(PAGE)
    assert response.status_code in (200, 302), response.status_code
    return response.status_code == 302 and "/login" in response.headers["Location"]


def logout(app, client):
    client.post("/logout", data={"csrf_token": token_in(client.get(PAGE).get_data(as_text=True))})


def change_password(app, client):
    from ecrf.users import change_password, get_user
    change_password(get_user("staff01"), PASSWORD, "quiet otter unfolds maps", min_length=12)


def disable(app, client):
    from ecrf.users import set_active
    set_active("staff01", False, actor="root")


def change_sites(app, client):
    from ecrf.users import change_role
    change_role("staff01", "site_staff", ["01", "02"], actor="root")


def sign_out_everywhere(app, client):
    from ecrf.users import end_sessions
    end_sessions("staff01", actor="root")


@pytest.mark.parametrize("end", [logout, change_password, disable, change_sites, sign_out_everywhere],
                         ids=lambda end: end.__name__)
def test_a_copied_session_cookie_is_refused_once_the_session_is_ended(wire_app, end):
    client = wire_app.test_client()
    assert login(client, "staff01").status_code == 302
    copy = wire_app.test_client()
    copy.set_cookie("session", client.get_cookie("session").value)
    assert not signed_out(copy)
    with wire_app.app_context():
        end(wire_app, client)
    assert signed_out(copy)
