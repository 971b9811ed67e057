"""ecrf.projections through verify_all: every projection collection is compared with the stream it comes from."""

import pytest

from tampering import TAMPERINGS, realistic_history


@pytest.fixture
def history(app):
    return app, realistic_history(app)


def verify(app):
    with app.app_context():
        from ecrf.integrity import verify_all

        return verify_all()


def test_a_realistic_history_verifies_clean(history):
    app, _ = history
    assert verify(app) == []


@pytest.mark.parametrize("tampering", TAMPERINGS, ids=lambda t: t.name)
def test_verify_names_each_direct_edit_of_a_projection_or_stream(history, tampering):
    app, ids = history
    with app.app_context():
        from ecrf.db import database

        tampering.edit(database(), ids)
    problems = verify(app)
    named = tampering.stream(ids)
    assert any(str(p).startswith(f"{named}: {tampering.says(ids)}") for p in problems), problems
    assert {p.stream for p in problems} == {named}
