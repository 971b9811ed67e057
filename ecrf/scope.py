"""What a web request is about: who calls and, on a study's URLs, which study — loaded once, before the view.

Blueprints install :func:`page_scope` (HTML) or :func:`api_scope` (JSON API) as their URL value
preprocessor; views then read ``g.user`` and ``g.runtime`` instead of loading them again. Services never
read ``g``: views pass the user and the runtime on as plain arguments.
"""

from __future__ import annotations

from flask import g
from flask_login import current_user

from ecrf.auth import api_user, web_user
from ecrf.studies import current_study
from ecrf.subjects import casebook_runtime


def page_scope(endpoint: str | None, values: dict | None) -> None:
    """Put the signed-in user on ``g.user`` and the study named by ``<study>`` on ``g.runtime``.

    Under a ``<subject>`` the runtime is the study version that subject's casebook is pinned to.

    :raise 404: (:class:`~ecrf.errors.NotFound`) when the study is not loaded.
    An anonymous request loads nothing: ``login_required`` sends it to sign in before any study is looked up.
    """
    if not current_user.is_authenticated:
        return
    g.user = web_user()
    if values and "study" in values:
        g.runtime = _runtime(values)


def api_scope(endpoint: str | None, values: dict | None) -> None:
    """On a study's API routes, put the token's user on ``g.user`` and the study on ``g.runtime``.

    :raise 401: (:class:`~ecrf.errors.NotAuthenticated`) without a valid bearer token, before the study is named.
    :raise 404: (:class:`~ecrf.errors.NotFound`) when the study is not loaded.
    Routes without a study (the study list, the public API description) are left to ask for the user themselves.
    """
    if values and "study" in values:
        g.user = api_user()
        g.runtime = _runtime(values)


def _runtime(values: dict):
    """The study, at the version of the subject's casebook on a subject's URLs (each casebook is pinned).

    Only an amended study (one loaded over another version) has casebooks on other versions to look up: a
    study with one version reads nothing more.
    """
    runtime, amended = current_study(values["study"])
    if amended and "subject" in values:
        return casebook_runtime(runtime, values["subject"])
    return runtime
