"""The reports page: each chart with its numbers in a table beside it."""

from __future__ import annotations

import base64

from flask import Blueprint, g, render_template, request, url_for
from flask_login import login_required
from markupsafe import Markup

from ecrf import charts, efficacy, reports
from ecrf.coding.safety import GRADES
from ecrf.i18n import translate
from ecrf.paging import page_of
from ecrf.report_reading import Reading
from ecrf.scope import page_scope

bp = Blueprint("reports", __name__)
bp.url_value_preprocessor(page_scope)


@bp.get("/studies/<study>/reports")
@login_required
def index(study: str):
    user, runtime = g.user, g.runtime
    # One read of the subject summaries serves every report below (not every record of the study).
    reading = Reading(runtime, user)
    enrollment = reports.enrollment(runtime, user, reading=reading)
    visits = reports.visit_status(runtime, user, reading=reading)
    # The counts cover every subject; the table shows a page of them (a study runs to a thousand and more).
    visit_page = page_of(visits["subjects"], request.args.get("visits_page", type=int))
    complete = reports.completeness(runtime, user, reading=reading)
    complete_page = page_of(complete["subjects"], request.args.get("completeness_page", type=int))
    queries = reports.query_metrics(runtime, user)
    review = reports.review_progress(runtime, user, reading=reading)
    crs = (reports.toxicity_by_day(runtime, user, "CRS", "CRS_GRADE", "CRSDTC", reading=reading)
           if "CRS" in runtime.forms else None)
    icans = (reports.toxicity_by_day(runtime, user, "ICANS", "ICANS_GRADE", "ICANSDTC", reading=reading)
             if "ICANS" in runtime.forms else None)
    rates = efficacy.response_rates(runtime, user, reading=reading) if "RESP" in runtime.forms else []
    survival = efficacy.survival_data(runtime, user, reading=reading)
    curves = {
        "Overall survival": efficacy.kaplan_meier(survival["os"]),
        "Progression-free survival": efficacy.kaplan_meier(survival["pfs"]),
    }
    counts = efficacy.blood_counts(runtime, user, reading=reading) if "LB_HEM" in runtime.forms else {}

    def svg(text: str) -> Markup:
        # As an <img>: an SVG image is a static document, so the page's CSP (no inline styles) does not apply to it.
        encoded = base64.b64encode(text.encode("utf-8")).decode("ascii")
        return Markup(f'<img class="chart-img" alt="{translate("Chart")}" src="data:image/svg+xml;base64,{encoded}">')

    drawn = {
        "enrollment": svg(charts.enrollment_chart(enrollment)) if enrollment["cumulative"] else None,
        "queries": svg(
            charts.bars([a for a, _ in queries["open_by_age"]], [n for _, n in queries["open_by_age"]], "Open queries")
        ) if any(n for _, n in queries["open_by_age"]) else None,
        "crs": svg(charts.grade_by_day_chart(crs, "CRS (ASTCT)")) if crs and crs["days"] else None,
        "icans": svg(charts.grade_by_day_chart(icans, "ICANS (ASTCT)")) if icans and icans["days"] else None,
        "response": svg(charts.response_chart(rates)) if any(r["infused"] for r in rates) else None,
        "km": svg(charts.km_chart(curves)) if any(c["n"] for c in curves.values()) else None,
        "counts": {a: svg(charts.counts_chart(c, a)) for a, c in counts.items() if c["subjects"]},
    }
    return render_template(
        "reports.html",
        study=runtime,
        enrollment=enrollment,
        visits=visits,
        queries=queries,
        review=review,
        crs=crs,
        icans=icans,
        aes=reports.adverse_events(runtime, user, reading=reading) if "AE" in runtime.forms else [],
        safety_table=reports.safety(runtime, user, reading=reading) if "AE" in runtime.forms else [],
        grades=GRADES,
        rates=rates,
        curves=curves,
        counts=counts,
        charts=drawn,
        few_subjects=charts.FEW_SUBJECTS,
        orr_populations=efficacy.ORR_POPULATIONS,
        censoring={
            "Overall survival": efficacy.SURVIVAL_RULES["os"],
            "Progression-free survival": efficacy.SURVIVAL_RULES["pfs"],
        },
        visit_page=visit_page,
        visit_href=lambda n: url_for("reports.index", study=study, visits_page=n, _anchor="visits"),
        completeness=complete,
        complete_page=complete_page,
        complete_href=lambda n: url_for("reports.index", study=study, completeness_page=n, _anchor="completeness"),
    )
