"""Query transitions racing on the real wire server: never a 500, never a lost or an unanswered audit event."""

import threading

import pytest
from conftest import Api

pytestmark = pytest.mark.integration

RACERS = 20
BUDGET = 120  # seconds: generous bounds for a busy 2-core machine, never a timing assertion


def _race(wire_app, qid: str) -> list[tuple[str, str, int, dict]]:
    """Half the threads close the query, half reply to it, all released at once; (actor, verb, status, body)."""
    barrier = threading.Barrier(RACERS)
    results, lock = [], threading.Lock()

    def act(n: int) -> None:
        actor, verb = ("mon01", "close") if n % 2 else ("staff01", "replies")
        api = Api(wire_app.test_client(), wire_app.tokens[actor])
        barrier.wait(timeout=BUDGET)
        response = api.post(f"/studies/MINI/queries/{qid}/{verb}", {"text": f"{verb} {n}"})
        with lock:
            results.append((actor, verb, response.status_code, response.get_json()))

    threads = [threading.Thread(target=act, args=(n,)) for n in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=BUDGET)
    assert not any(thread.is_alive() for thread in threads), "a racing request never answered"
    return results


def test_parallel_close_and_reply_of_one_query_answer_2xx_or_409_and_the_thread_matches_the_answers(wire_app):
    staff = Api(wire_app.test_client(), wire_app.tokens["staff01"])
    monitor = Api(wire_app.test_client(), wire_app.tokens["mon01"])
    subject = staff.register()
    staff.save(subject, "SCREEN", "VS", {"WEIGHT": 70})
    qid = monitor.post("/studies/MINI/queries", {"subject": subject, "event": "SCREEN", "form": "VS",
                                                 "item": "/WEIGHT", "text": "source?"}).get_json()["id"]

    results = _race(wire_app, qid)

    assert len(results) == RACERS
    assert {status for _, _, status, _ in results} <= {200, 409}, [(v, s, b) for _, v, s, b in results]
    won = [(actor, verb, body) for actor, verb, status, body in results if status == 200]
    lost = [(verb, body) for _, verb, status, body in results if status == 409]
    # Exactly one close wins: a second close finds the query closed, a reply after it finds it closed too.
    assert [verb for _, verb, _ in won].count("close") == 1
    assert all("closed" in body["detail"] for _, body in lost), lost
    final = monitor.get(f"/studies/MINI/queries/{qid}").get_json()
    assert final["state"] == "closed" and final["closed_at"] is not None
    thread = [(m["author"], m["action"], m["text"]) for m in final["messages"]]
    # The thread holds the opening message and one message per 2xx answer, the close last.
    assert thread[0] == ("mon01", "opened", "source?")
    assert sorted(thread[1:]) == sorted((actor, "closed" if verb == "close" else "answered",
                                         body["messages"][-1]["text"])
                                        for actor, verb, body in won)
    assert thread[-1][1] == "closed"
    # Every 2xx has its audit event on the query's stream, in the thread's order, and nothing else does.
    events = staff.get(f"/studies/MINI/subjects/{subject}/audit").get_json()
    trail = [e for e in events if e["stream"] == f"query/{qid}"]
    assert [e["seq"] for e in trail] == list(range(1, len(thread) + 1))
    assert [e["action"] for e in trail] == [f"query_{action}" for _, action, _ in thread]
    assert [e["changes"][0]["new"]["text"] for e in trail] == [text for _, _, text in thread]
    assert wire_app.test_cli_runner().invoke(args=["audit", "verify"]).exit_code == 0


def test_parallel_replies_all_land_in_order_when_nothing_closes_the_query(wire_app):
    staff = Api(wire_app.test_client(), wire_app.tokens["staff01"])
    monitor = Api(wire_app.test_client(), wire_app.tokens["mon01"])
    subject = staff.register()
    staff.save(subject, "SCREEN", "VS", {"WEIGHT": 70})
    qid = monitor.post("/studies/MINI/queries", {"subject": subject, "event": "SCREEN", "form": "VS",
                                                 "item": "/WEIGHT", "text": "source?"}).get_json()["id"]
    barrier = threading.Barrier(8)
    statuses, lock = [], threading.Lock()

    def answer(n: int) -> None:
        api = Api(wire_app.test_client(), wire_app.tokens["staff01"])
        barrier.wait(timeout=BUDGET)
        status = api.post(f"/studies/MINI/queries/{qid}/replies", {"text": f"answer {n}"}).status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=answer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=BUDGET)
    assert statuses == [200] * 8  # a reply still applies to an answered query: the losers try again and land
    final = monitor.get(f"/studies/MINI/queries/{qid}").get_json()
    assert final["state"] == "answered"
    assert sorted(m["text"] for m in final["messages"][1:]) == sorted(f"answer {n}" for n in range(8))
