"""Sign-off pages: the dialogs list obstacles and ask a reason, the casebook and the study close from the UI,
the investigator's worklist."""

import time

from conftest import OVERRIDDEN, PASSWORD, login, token_in

from ecrf.trail import audit_store

STUDY = "/studies/MINI"


def subject_page(client, subject) -> str:
    return client.get(f"{STUDY}/subjects/{subject}").get_data(as_text=True)


def test_the_visit_sign_dialog_lists_the_open_query_and_a_sign_without_reason_is_refused(client, as_user, saved):
    assert as_user("mon01").post(f"{STUDY}/queries", {"subject": saved, "event": "SCREEN", "form": "VS",
                                                      "item": "/WEIGHT", "text": "Please check"}).status_code == 201
    login(client, "inv01")
    path = f"{STUDY}/subjects/{saved}/events/SCREEN/forms/VS"
    page = client.get(path).get_data(as_text=True)
    dialog = page[page.index('id="sign-visit"'):]
    assert 'data-kind="open_query"' in dialog and "Weight" in dialog and 'name="override_reason"' in dialog
    refused = client.post(path + "/do/sign-visit", data={"csrf_token": token_in(page), "password": PASSWORD},
                          follow_redirects=True)
    assert "obstacle(s) stand against sign" in refused.get_data(as_text=True)
    assert as_user("inv01").get(f"{STUDY}/subjects/{saved}/signatures").get_json() == []
    signed = client.post(path + "/do/sign-visit", data={"csrf_token": token_in(page), "password": PASSWORD,
                                                         "override_reason": "Query is about a transcription"},
                         follow_redirects=True)
    assert "Visit signed" in signed.get_data(as_text=True)
    [signature] = as_user("inv01").get(f"{STUDY}/subjects/{saved}/signatures").get_json()
    assert signature["override_reason"] == "Query is about a transcription"


def test_a_form_with_nothing_against_it_asks_no_reason(client, as_user, staff, saved):
    assert as_user("mon01").post(staff.record_path(saved, "SCREEN", "VS") + "/sdv", {}).status_code == 200
    login(client, "inv01")
    page = client.get(f"{STUDY}/subjects/{saved}/events/SCREEN/forms/VS").get_data(as_text=True)
    form_dialog = page[page.index('id="sign"'):page.index('id="sign-visit"')]
    assert 'id="sign-ready"' in form_dialog and "override_reason" not in form_dialog


def test_the_data_manager_locks_and_unlocks_a_casebook_from_the_subject_page(client, as_user, saved):
    login(client, "dm")
    page = subject_page(client, saved)
    assert 'id="casebook-lock"' in page and 'data-kind="not_verified"' in page
    action = f"{STUDY}/subjects/{saved}/casebook/lock"
    client.post(action, data={"csrf_token": token_in(page)})
    assert 'id="casebook-state"' not in subject_page(client, saved)
    client.post(action, data={"csrf_token": token_in(page), "override_reason": "Subject lost to follow-up"})
    page = subject_page(client, saved)
    assert 'data-state="locked"' in page and 'id="casebook-unlock"' in page
    assert as_user("dm").get(f"{STUDY}/subjects/{saved}/events/SCREEN/forms/VS").get_json()["lifecycle"] == "locked"
    event = audit_store().events(f"subject/MINI/{saved}")[-1]
    assert event["state"]["details"]["override"]["reason"] == "Subject lost to follow-up"
    client.post(f"{STUDY}/subjects/{saved}/casebook/unlock", data={"csrf_token": token_in(page), "reason": "late AE"})
    assert 'id="casebook-state"' not in subject_page(client, saved)


def test_the_investigator_signs_the_casebook_from_the_subject_page(client, as_user, saved):
    login(client, "inv01")
    page = subject_page(client, saved)
    assert 'id="casebook-sign"' in page and 'id="casebook-lock"' not in page
    client.post(f"{STUDY}/subjects/{saved}/casebook/sign",
                data={"csrf_token": token_in(page), "password": PASSWORD, **OVERRIDDEN})
    assert 'id="casebook-signed"' in subject_page(client, saved)


def wait_for_job(client, path: str) -> str:
    """The job page once the job has finished (the job runs on its own thread)."""
    for _ in range(600):
        page = client.get(path).get_data(as_text=True)
        if 'data-state="running"' not in page:
            return page
        time.sleep(0.05)
    raise AssertionError("the job did not finish")


def test_the_data_manager_freezes_the_study_with_progress_and_a_reason(client, as_user, saved):
    login(client, "dm")
    page = client.get(f"{STUDY}/database-lock").get_data(as_text=True)
    assert 'id="study-freeze"' in page and 'id="study-lock"' in page and 'data-state="open"' in page
    refused = client.post(f"{STUDY}/database-lock", data={"csrf_token": token_in(page), "step": "freeze"},
                          follow_redirects=True)
    assert "obstacle(s) stand against freeze" in refused.get_data(as_text=True)
    started = client.post(f"{STUDY}/database-lock", data={"csrf_token": token_in(page), "step": "freeze",
                                                          "override_reason": "Interim analysis cut-off"})
    assert started.status_code == 302
    done = wait_for_job(client, started.headers["Location"])
    assert 'data-state="done"' in done and "<progress" in done and "Interim analysis cut-off" in done
    assert 'data-state="frozen"' in client.get(f"{STUDY}/database-lock").get_data(as_text=True)
    assert as_user("dm").get(f"{STUDY}/subjects/{saved}/events/SCREEN/forms/VS").get_json()["lifecycle"] == "frozen"


def test_only_data_managers_reach_the_database_lock_page(client):
    login(client, "inv01")
    assert client.get(f"{STUDY}/database-lock").status_code == 403


def test_the_worklist_lists_a_complete_visit_then_its_voided_signature(client, as_user, staff, saved):
    login(client, "inv01")
    page = client.get(f"{STUDY}/signatures").get_data(as_text=True)
    assert 'id="nav-to-sign-count">2<' in page  # the SCREEN forms VS and DM (LB is not started): each form
    assert page.count('data-scope="record"') == 2
    inv = as_user("inv01")
    assert inv.post(f"{STUDY}/subjects/{saved}/events/SCREEN/sign", {"password": PASSWORD, **OVERRIDDEN}).status_code \
        == 201
    assert 'id="worklist-empty"' in client.get(f"{STUDY}/signatures").get_data(as_text=True)
    before = staff.get(staff.record_path(saved, "SCREEN", "VS")).get_json()
    staff.save(saved, "SCREEN", "VS", {"WEIGHT": 71}, version=before["version"], reason="scale recalibrated")
    page = client.get(f"{STUDY}/signatures").get_data(as_text=True)
    assert 'data-scope="record"' in page and "Earlier signature voided" in page
    assert client.get(f"{STUDY}/subjects/{saved}").status_code == 200
