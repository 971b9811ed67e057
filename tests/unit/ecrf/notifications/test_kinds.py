"""ecrf.notifications.kinds: which audit events give which notices, and with which keys (pure)."""

from __future__ import annotations

import pytest

from ecrf.notifications.kinds import notices

CONTEXT = {"study": "S", "subject": "01-001", "site": "01", "event": "SCREEN", "form": "LB", "item": "/ALT"}


def event(action, context=CONTEXT, state=None, stream="query/q1", seq=1):
    return {"stream": stream, "seq": seq, "action": action, "actor": "a", "at": None, "context": context,
            "state": state or {}}


@pytest.mark.parametrize("given, kinds", [
    (event("query_opened"), ["query_opened"]),
    (event("query_answered"), ["query_answered"]),
    (event("query_closed"), []),
    (event("unlock", stream="record/S/01-001/SCREEN/LB"), ["record_unlocked"]),
    (event("lock", stream="record/S/01-001/SCREEN/LB"), []),
    (event("sae_opened", stream="sae/x"), ["sae_opened"]),
    (event("sae_submitted", stream="sae/x"), ["sae_submitted"]),
    (event("sae_acknowledged", stream="sae/x"), []),
    (event("update", state={"derived": {"ALT_GRADE": 3, "AST_GRADE": 2, "HEAVY": True}}), ["lab_grade"]),
    (event("update", state={"derived": {"ALT_GRADE": True}}), []),  # a boolean is not a grade
    (event("update", state={"derived": {"ALT_GRADE": None}}), []),
    (event("query_opened", context={"study": "S"}), []),  # no subject or site: nobody to tell
    (event("login", context={}), []),
])
def test_events_give_their_notices(given, kinds):
    assert [n.kind for n in notices(given)] == kinds


def test_the_same_grade_of_the_same_record_has_one_key_and_a_worse_grade_another():
    first, again = (notices(event("update", state={"derived": {"PLAT_GRADE": 3}}, stream="r", seq=s))[0]
                    for s in (1, 2))
    worse = notices(event("update", state={"derived": {"PLAT_GRADE": 4}}, stream="r", seq=3))[0]
    assert first.key == again.key != worse.key
