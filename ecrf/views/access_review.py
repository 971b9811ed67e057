"""The access review (admins only): every grant of a role at a site, since when and by whom, as a page and CSV."""

from __future__ import annotations

from flask import Blueprint, Response, g, render_template
from flask_login import login_required

from audit import utc_now
from ecrf.access_review import ALL, access_review, access_review_csv
from ecrf.roles import Action, require
from ecrf.scope import page_scope

bp = Blueprint("access_review", __name__, url_prefix="/admin")
bp.url_value_preprocessor(page_scope)


@bp.get("/access-review")
@login_required
def index():
    """Each user with every grant they have held (ended ones too), last sign-in and account status."""
    require(g.user, Action.ADMINISTER)
    return render_template("access_review.html", lines=access_review(), all_sites=ALL)


@bp.get("/access-review.csv")
@login_required
def download():
    """The review as a CSV download named with today's date (UTC)."""
    require(g.user, Action.ADMINISTER)
    return Response(access_review_csv(access_review()), mimetype="text/csv",
                    headers={"Content-Disposition":
                             f"attachment; filename=access-review-{utc_now():%Y-%m-%d}.csv"})
