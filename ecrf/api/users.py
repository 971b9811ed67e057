"""API for user administration (administrators only): users, their role and sites, status, password reset,
tokens and sessions; the access review as JSON and CSV. Each change is audited with its reason."""

from __future__ import annotations

from flask import Response, current_app, jsonify

from audit import utc_now
from ecrf import users as accounts
from ecrf.access_review import access_review, access_review_csv, access_review_rows
from ecrf.api import schemas
from ecrf.api.blueprint import api, json_body
from ecrf.api.fields.users import user_json
from ecrf.auth import api_user
from ecrf.roles import Action, require
from ecrf.users import User

USER = "/users/<username>"


def _admin() -> str:
    """The calling administrator's username; 401 without a token, 403 for any other role."""
    user = api_user()
    require(user, Action.ADMINISTER)
    return user.username


@api.get("/users")
def users():
    _admin()
    return jsonify([user_json(u) for u in User.objects.order_by("username")])


@api.post("/users")
def create_user():
    actor = _admin()
    body = schemas.load(schemas.UserCreate(), json_body())
    min_length = current_app.config["ECRF"].password_min_length
    details = {"full_name": body["full_name"], "actor": actor, "reason": body["reason"],
               "min_password_length": min_length}
    made = {}
    if body["password"] is None:
        made["one_time_password"] = accounts.add_user_with_one_time_password(
            body["username"], body["role"], body["sites"], **details)
    else:
        accounts.add_user(body["username"], body["role"], body["sites"], body["password"], **details)
    return jsonify({**user_json(accounts.find_user(body["username"])), **made}), 201


@api.get(USER)
def user_detail(username: str):
    _admin()
    return jsonify(user_json(accounts.find_user(username)))


@api.post(USER + "/role")
def user_role(username: str):
    actor = _admin()
    accounts.find_user(username)
    body = schemas.load(schemas.RoleChange(), json_body())
    return jsonify(user_json(accounts.change_role(username, body["role"], body["sites"], actor=actor,
                                                  reason=body["reason"])))


@api.post(USER + "/disable")
def user_disable(username: str):
    return _set_active(username, False)


@api.post(USER + "/enable")
def user_enable(username: str):
    return _set_active(username, True)


def _set_active(username: str, active: bool):
    actor = _admin()
    accounts.find_user(username)
    body = schemas.load(schemas.RequiredReason(), json_body())
    return jsonify(user_json(accounts.set_active(username, active, actor=actor, reason=body["reason"])))


@api.post(USER + "/reset-password")
def user_reset_password(username: str):
    actor = _admin()
    accounts.find_user(username)
    body = schemas.load(schemas.RequiredReason(), json_body())
    password = accounts.reset_password(username, actor=actor, reason=body["reason"],
                                       min_length=current_app.config["ECRF"].password_min_length)
    return jsonify({"username": username, "one_time_password": password})


@api.post(USER + "/unlock")
def user_unlock(username: str):
    actor = _admin()
    accounts.find_user(username)
    body = schemas.load(schemas.ReasonRequest(), json_body(optional=True))
    return jsonify(user_json(accounts.unlock(username, actor=actor, reason=body.get("reason"))))


@api.post(USER + "/revoke-tokens")
def user_revoke_tokens(username: str):
    actor = _admin()
    accounts.find_user(username)
    body = schemas.load(schemas.ReasonRequest(), json_body(optional=True))
    return jsonify({"username": username,
                    "revoked": accounts.revoke_tokens(username, actor=actor, reason=body.get("reason"))})


@api.post(USER + "/sign-out")
def user_sign_out(username: str):
    actor = _admin()
    accounts.find_user(username)
    body = schemas.load(schemas.ReasonRequest(), json_body(optional=True))
    accounts.end_sessions(username, actor=actor, reason=body.get("reason"))
    return jsonify(user_json(accounts.find_user(username)))


@api.get("/access-review")
def access_review_json():
    _admin()
    return jsonify(access_review_rows(access_review()))


@api.get("/access-review.csv")
def access_review_download():
    _admin()
    return Response(access_review_csv(access_review()), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename=access-review-{utc_now():%Y-%m-%d}.csv"})
