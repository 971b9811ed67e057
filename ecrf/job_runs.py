"""A background job's run, whatever it does (an import, a migration, a study freeze or lock): its end, its lookup.

Each job kind keeps its own document (``job_id``, ``study``, ``state``, ``error``, ``created_at``,
``finished_at`` and its own results) and its own work; what they share is here, once: the thread it runs on,
the end it comes to (done, with its results, or failed: a refusal's own words, or for anything unforeseen a
short text for the page while the log keeps the detail), and the reading of one job or the latest ones by the
role the job kind asks for.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from bson import ObjectId

from audit import utc_now
from ecrf.errors import DomainError, NotFound
from ecrf.roles import Action, require

log = logging.getLogger(__name__)


def run_in_background(name: str, target: Callable[..., None], *args: Any) -> None:
    """Start ``target(*args)`` on a daemon thread named ``name``; returns at once."""
    threading.Thread(target=target, args=args, daemon=True, name=name).start()


def finished(model, job_id: str, **results: Any) -> None:
    """Mark the job done now, storing ``results`` (field name -> value) with it."""
    model.objects(job_id=job_id).update(set__state="done", set__finished_at=utc_now(),
                                        **{f"set__{name}": value for name, value in results.items()})


def failed(model, job_id: str, error: BaseException, what: str) -> None:
    """Mark the job failed now, with why: a refusal's own detail, or (logged with its traceback) the error's text.

    Called from the ``except`` clause that caught ``error``, so that the log has its traceback.
    """
    if isinstance(error, DomainError):
        detail = error.detail[:2000]
    else:
        log.exception("%s %s failed", what, job_id)
        detail = str(error)[:500]
    model.objects(job_id=job_id).update(set__state="failed", set__error=detail, set__finished_at=utc_now())


def job_of(model, study, user, job_id: str, action: Action, what: str):
    """One of the study's jobs of that kind; 403 for a role without ``action``, 404 for an unknown id."""
    require(user, action)
    job = model.objects(job_id=job_id, study=study.oid).first() if ObjectId.is_valid(job_id) else None
    if job is None:
        raise NotFound(f"no {what} {job_id!r}")
    return job


def recent(model, study, user, action: Action, limit: int) -> list:
    """The study's latest jobs of that kind, newest first (403 for a role without ``action``)."""
    require(user, action)
    return list(model.objects(study=study.oid).order_by("-created_at").limit(limit))
