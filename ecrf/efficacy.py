"""Efficacy reports: response rates with exact intervals, survival (Kaplan–Meier), blood counts over study days.

Computed from a :class:`ecrf.report_reading.Reading` (charts are drawn
elsewhere); scoped to the caller's sites, like every report.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter, defaultdict

from audit import utc_now
from ecrf.clinical.dates import as_date
from ecrf.lazy import lazy_module
from ecrf.report_reading import Reading, deaths, reading_of, study_day, subject_fact
from ecrf.studies import StudyRuntime

scipy_stats = lazy_module("scipy.stats")
lifelines = lazy_module("lifelines")


def clopper_pearson(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper–Pearson) interval for a binomial proportion."""
    alpha = 1 - confidence
    low = 0.0 if successes == 0 else float(scipy_stats.beta.ppf(alpha / 2, successes, trials - successes + 1))
    high = 1.0 if successes == trials else float(scipy_stats.beta.ppf(1 - alpha / 2, successes + 1, trials - successes))
    return low, high


ORR_POPULATIONS = {
    "itt": "Intention-to-treat: every infused subject; a subject with no assessment at the visit, "
    "or who died before it, counts as a non-responder",
    "evaluable": "Evaluable: the infused subjects with a response assessment at the visit",
}


def _rate(responders: int, n: int) -> dict:
    low, high = clopper_pearson(responders, n) if n else (None, None)
    return {"responders": responders, "n": n, "rate": responders / n if n else None, "ci_low": low, "ci_high": high}


def response_rates(study: StudyRuntime, user, today: dt.date | None = None,
                   reading: Reading | None = None) -> list[dict]:
    """CR/PR/NR at each response visit and the ORR (CR + PR) intention-to-treat and among the evaluable.

    Per visit: ``CR``, ``PR``, ``NR`` of the infused subjects assessed there;
    ``infused``; ``not_assessed`` and ``died_before`` (no assessment, and the
    death date before the visit's planned day), ``not_yet_due`` of the not
    assessed (the visit's window still open or ahead on ``today``: the ITT
    rate counts them as non-responders all the same); ``evaluable``
    (assessed); and ``orr`` = ``{"itt": rate, "evaluable": rate}`` (see
    :data:`ORR_POPULATIONS`), each rate ``{"responders", "n", "rate",
    "ci_low", "ci_high"}`` with its exact 95 % interval (None without
    subjects). A subject is infused once the study's ``infusion_date`` fact
    is recorded; assessments of others are left out.
    """
    today = today or utc_now().date()
    reading = reading_of(study, user, reading)
    infusion = {k: d for k, v in subject_fact(study, user, "infusion_date", reading).items() if (d := as_date(v))}
    death = deaths(reading)
    results = []
    for visit in study.parameters.get("response_visits", []):
        event = study.event(visit)
        day, after = event.get("day") or 0, (event.get("window") or {}).get("after", 0)
        assessed = {
            r["subject"]: (r.get("derived") or {}).get("RESPONSE")
            for r in reading.records("RESP", visit, derived=("RESPONSE",))
        }
        outcomes, not_assessed, died_before, not_yet_due = Counter(), 0, 0, 0
        for subject, day0 in infusion.items():
            outcome = assessed.get(subject)
            if outcome in ("CR", "PR", "NR"):
                outcomes[outcome] += 1
            elif subject in death and death[subject] < day0 + dt.timedelta(days=day):
                died_before += 1
            else:
                not_assessed += 1
                not_yet_due += today <= day0 + dt.timedelta(days=day + after)
        responders, evaluable = outcomes["CR"] + outcomes["PR"], sum(outcomes.values())
        results.append(
            {
                "visit": visit,
                "day": day,
                "CR": outcomes["CR"],
                "PR": outcomes["PR"],
                "NR": outcomes["NR"],
                "infused": len(infusion),
                "not_assessed": not_assessed,
                "died_before": died_before,
                "not_yet_due": not_yet_due,
                "evaluable": evaluable,
                "orr": {"itt": _rate(responders, len(infusion)), "evaluable": _rate(responders, evaluable)},
            }
        )
    return results


SURVIVAL_RULES = {
    "os": "Event: death from any cause. Censored at the last date the subject was known alive "
    "(the latest survival follow-up), or at infusion without one. Day 0 = infusion.",
    "pfs": "Event: progression or relapse, or death, whichever comes first. Censored at the last "
    "survival follow-up without either, or at infusion without one. Day 0 = infusion.",
}


def survival_data(study: StudyRuntime, user, reading: Reading | None = None) -> dict[str, list[tuple[str, int, bool]]]:
    """(subject, days from infusion, event happened) for overall and progression-free survival.

    Every infused subject, by the rules :data:`SURVIVAL_RULES` states (shown beside the charts).
    """
    reading = reading_of(study, user, reading)
    infusion = {k: as_date(v) for k, v in subject_fact(study, user, "infusion_date", reading).items()}
    death = deaths(reading)
    last_seen: dict[str, dt.date] = {}
    progression: dict[str, dt.date] = {}
    for record in reading.records("SURV", data=("SURVDTC", "DISSTAT", "PROGDTC")):
        data = record.get("data") or {}
        seen = as_date(data.get("SURVDTC"))
        if seen and (record["subject"] not in last_seen or seen > last_seen[record["subject"]]):
            last_seen[record["subject"]] = seen
        if data.get("DISSTAT") == "progression" and data.get("PROGDTC"):
            when = as_date(data["PROGDTC"])
            if when and (record["subject"] not in progression or when < progression[record["subject"]]):
                progression[record["subject"]] = when
    overall, pfs = [], []
    for subject, day0 in sorted(infusion.items()):
        if day0 is None:
            continue
        died = death.get(subject)
        last = max([d for d in (last_seen.get(subject), died) if d] or [day0])
        overall.append((subject, (died - day0).days if died else (last - day0).days, died is not None))
        firsts = [d for d in (progression.get(subject), died) if d]
        if firsts:
            pfs.append((subject, (min(firsts) - day0).days, True))
        else:
            pfs.append((subject, (last - day0).days, False))
    return {"os": overall, "pfs": pfs}


def kaplan_meier(points: list[tuple[str, int, bool]], at: list[int] | None = None) -> dict:
    """Kaplan–Meier estimate (lifelines): the survival curve, numbers at risk at given days, and the censored
    observations as ``(day, survival there)``, for the chart's censoring marks."""
    if not points:
        return {"times": [], "survival": [], "at_risk": [], "median": None, "n": 0, "events": 0, "censored": []}
    durations = [max(p[1], 0) for p in points]
    events = [p[2] for p in points]
    fitter = lifelines.KaplanMeierFitter().fit(durations, events)
    curve = fitter.survival_function_.iloc[:, 0]
    at = at if at is not None else [0, 90, 180, 365, 730, 1095]
    at_risk = [(t, sum(1 for d in durations if d >= t)) for t in at]
    median = fitter.median_survival_time_
    censored = sorted(d for d, event in zip(durations, events, strict=False) if not event)
    return {
        "times": [float(t) for t in curve.index],
        "survival": [float(s) for s in curve.values],
        "at_risk": at_risk,
        "median": None if median == float("inf") else float(median),
        "n": len(points),
        "events": sum(events),
        # One lookup for every censored time (one call per time cost seconds at a thousand subjects).
        "censored": [(float(t), float(s)) for t, s in
                     zip(censored, fitter.survival_function_at_times(censored).values, strict=True)]
        if censored else [],
    }


def blood_counts(study: StudyRuntime, user, analytes=("NEUT", "HGB_STD", "PLAT"),
                 reading: Reading | None = None) -> dict:
    """Per analyte of the haematology form: each subject's values by study day, and their spread by visit.

    ``{analyte: {"subjects": {subject: [(day, value), ...]}, "visits": [spread, ...]}}``; a spread is
    ``{"visit", "day", "n", "q1", "median", "q3"}`` over the subjects' values at one scheduled visit
    (quartiles inclusive of the extremes, as numpy and R compute them by default), at the visit's planned
    study day, or at the median day measured for a visit without one (screening). Values without a
    study day (no infusion date yet) and from unscheduled or log events are left out.
    """
    reading = reading_of(study, user, reading)
    infusion = {k: as_date(v) for k, v in subject_fact(study, user, "infusion_date", reading).items()}
    scheduled = {e["oid"]: e for e in study.events if not e.get("repeating") and not e.get("log")}
    series: dict[str, dict[str, list]] = {a: defaultdict(list) for a in analytes}
    at_visit: dict[str, dict[str, list]] = {a: defaultdict(list) for a in analytes}
    days_at_visit: dict[str, list[int]] = defaultdict(list)
    for record in reading.records("LB_HEM", data=("LBDTC", *analytes), derived=tuple(analytes)):
        day = study_day(infusion.get(record["subject"]), (record.get("data") or {}).get("LBDTC"))
        if day is None:
            continue
        values = {**(record.get("data") or {}), **(record.get("derived") or {})}
        visit = record.get("event") if record.get("event") in scheduled else None
        if visit:
            days_at_visit[visit].append(day)
        for analyte in analytes:
            if values.get(analyte) is not None:
                series[analyte][record["subject"]].append((day, values[analyte]))
                if visit:
                    at_visit[analyte][visit].append(values[analyte])
    planned = {
        oid: scheduled[oid].get("day") if scheduled[oid].get("day") is not None else statistics.median(days)
        for oid, days in days_at_visit.items()
    }
    return {
        a: {
            "subjects": {s: sorted(points) for s, points in sorted(series[a].items())},
            "visits": sorted(
                (_spread(visit, planned[visit], values) for visit, values in at_visit[a].items()),
                key=lambda spread: spread["day"],
            ),
        }
        for a in analytes
    }


def _spread(visit: str, day: float, values: list[float]) -> dict:
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 else values * 3
    return {"visit": visit, "day": day, "n": len(values), "q1": q1, "median": median, "q3": q3}
