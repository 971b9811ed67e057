"""The results: targets from issue 9, the printed table and the JSON document."""

from __future__ import annotations

import json
import operator

# key -> (comparison, target, unit, what)
TARGETS = {
    "save_overhead_ratio": ("<=", 1.3, "×", "full save of the largest form ÷ bare insert+update (SecantusDB)"),
    "save_overhead_ratio_mongomock": ("<=", 1.3, "×", "the same on mongomock"),
    "engine_cpu_ms_per_save": ("<=", 1.0, "ms", "client CPU of a full save − client CPU of the bare writes"),
    "scaling_ratio_1e6_vs_1e3": ("<=", 1.2, "×", "save p50 with many ÷ with 1e3 audit events stored"),
    "verify_vs_sha256": (">=", 0.25, "×", "verify_all events/s ÷ raw SHA-256 events/s"),
    "verify_vs_server_read": (">=", 0.6, "×", "verify_all events/s ÷ the server's raw read of the events, same run"),
    "export_memory_ratio": ("<=", 1.2, "×", "peak export memory, large ÷ small study (worst of ODM, CSV)"),
    "odm_export_s1k_s": ("<=", 30.0, "s", "ODM export of 1,000 subjects"),
    "audit_history_p95_ms": ("<=", 200.0, "ms", "GET …/subjects/{s}/audit, p95 over 50 subjects (worse of API, page)"),
    "audit_page_10k_p95_ms": ("<=", 200.0, "ms",
                              "GET …/subjects/{s}/audit of a subject with 10,000 events: first, next, deep, filtered"),
    "matrix_p95_ms": ("<=", 300.0, "ms", "GET …/subjects/{s} (event × form matrix), p95 over 50 subjects (API, page)"),
    "reports_page_large_s": ("<=", 1.5, "s", "GET of the reports page by the data manager at the largest export size "
                             "(issue 19; full size: 1,000 full casebooks)"),
}

# Shown in the table without a target.
INFO = {
    "audit_page_10k_unfiltered_p95_ms": ("ms", "the same, first, next and deep pages only (no filter)"),
    "audit_page_10k_first_index_s": ("s", "first view of that subject: its 10,000 events indexed (subject_trail)"),
    "engine_pure_steps_cpu_ms_per_save": ("ms", "CPU of the write path's non-database steps alone"),
    "engine_cpu_floor_ms_per_save": ("ms", "client CPU of the save's one read + pure steps: the least engine CPU"),
    "verify_main_thread_cpu_fraction": ("×", "verify_all's own thread CPU ÷ its wall time (the rest is waiting)"),
    "save_full_p50_ms": ("ms", "full save p50 (SecantusDB)"),
    "save_bare_p50_ms": ("ms", "bare insert+update p50 (SecantusDB)"),
    "save_db_commands_per_save": ("", "database commands per save of the largest form (bare: 2)"),
    "save_read_p50_ms": ("ms", "the save's one read before it writes, alone, p50 (SecantusDB)"),
    "save_overhead_floor_ratio": ("×",
                                  "(that read + bare insert+update + pure-step CPU) ÷ bare: the least a save can cost"),
    "checks_evaluated_fraction_one_item_change": ("×", "checks evaluated ÷ the form's checks, when one item changes"),
    "journal_cost_ratio": ("×",
                           "bare writes acknowledged once journaled (w=majority, j) ÷ unjournaled (w=1), interleaved"),
    "api_put_db_commands": ("", "database commands per PUT of the largest form through the JSON API"),
    "http_saves_per_s": ("/s", "saves per second through gunicorn"),
    "http_p50_ms": ("ms", "HTTP save p50"),
    "http_p95_ms": ("ms", "HTTP save p95"),
    "http_vs_bare_throughput_ratio": ("×", "bare write pairs/s ÷ HTTP saves/s, same concurrency"),
    "scaling_ratio_bare_writes": ("×", "as the scaling ratio, for the bare insert+update (the server itself)"),
    "scaling_ratio_normalised": ("×", "scaling ratio ÷ bare-writes scaling ratio (machine drift removed)"),
    "scaling_ratio_lb_chem": ("×", "as the scaling ratio, for SCREEN/LB_CHEM (re-checks dependents)"),
    "audit_history_api_p95_ms": ("ms", "the subject's audit history through the JSON API, p95"),
    "audit_history_page_p95_ms": ("ms", "the same as the HTML page (signed-in site staff), p95"),
    "matrix_api_p95_ms": ("ms", "the subject's matrix through the JSON API, p95"),
    "matrix_page_p95_ms": ("ms", "the subject page (the matrix as HTML), p95"),
    "scaling_ratio_1e5_vs_1e3": ("×", "IE save p50 with 1e5 ÷ with 1e3 audit events stored (full runs)"),
    "scaling_large_events": ("", "audit events stored at the large scaling size"),
    "odm_export_large_s": ("s", "ODM export at the largest size measured"),
    "reports_page_large_each_s": ("s", "the 3 GETs whose median is reports_page_large_s (each draws its charts)"),
    "reports_page_large_repeat_s": ("s", "one more GET, the data unchanged: the charts kept (ecrf.charts.DRAWN)"),
    "reports_page_large_mib": ("MiB", "its HTML"),
    "query_list_queries": ("", "queries stored when the query list is measured (20 per subject at the largest size)"),
    "query_list_dm_s": ("s", "GET of the query list's first page by the data manager (every query visible)"),
    "query_list_staff_subject_s": ("s", "GET of one subject's queries by site staff"),
    "csv_export_time_growth": ("×", "CSV export time growth (see csv_export_size_growth for the size step)"),
    "verify_events_per_s": ("/s", "verify_all throughput"),
    "verify_ceiling_bson_decode_vs_sha256": (
        "×", "pymongo's BSON decoding alone of the same events (in memory) ÷ raw SHA-256"),
    "verify_ceiling_server_read_vs_sha256": (
        "×", "the server sending the same events, sorted, as undecoded BSON ÷ raw SHA-256"),
    "verify_ceiling_events_and_projections_vs_server_read": (
        "×", "the raw read of the events ÷ the raw read of the events and every projection verify compares (its best)"),
    "form_render_p50_ms": ("ms", "GET of the SCREEN/IE form page (test client, signed in), p50"),
    "form_jinja_render_p50_ms": ("ms", "render_template of the same page with the same context, p50"),
    "form_render_vs_jinja_ratio": ("×", "form page GET p50 ÷ its template render p50"),
    "form_render_db_commands": ("", "database commands per GET of the form page"),
    "checks_per_s_compiled": ("/s", "edit checks/s over a full casebook, compiled CEL programs"),
    "checks_per_s_interpreted": ("/s", "the same, parsing each rule per evaluation (cel.evaluate)"),
    "checks_compiled_vs_interpreted": ("×", "compiled ÷ interpreted checks/s (contexts built per record in both)"),
}

OPS = {"<=": operator.le, ">=": operator.ge}


def judge(results: dict) -> dict:
    """``{key: {"target", "value", "met"}}`` for each target whose key was measured."""
    verdicts = {}
    for key, (op, target, unit, _) in TARGETS.items():
        value = results.get(key)
        if isinstance(value, (int, float)):
            verdicts[key] = {"target": f"{op} {target:g}{unit if unit != '×' else ''}", "value": value,
                             "met": bool(OPS[op](value, target))}
    return verdicts


def _fmt(value) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.4f}" if abs(value) < 0.1 else f"{value:,.2f}"
    return str(value)


def table(results: dict) -> str:
    """The short table printed at the end of a run."""
    verdicts = results.get("targets", {})
    lines = [f"{'metric':36} {'value':>12}  {'target':>9}  {'':6} meaning", "-" * 110]
    for key, (op, target, _unit, what) in TARGETS.items():
        if key not in results:
            lines.append(f"{key:36} {'(not run)':>12}")
            continue
        verdict = verdicts.get(key, {})
        status = "met" if verdict.get("met") else "MISSED"
        lines.append(f"{key:36} {_fmt(results[key]):>12}  {op + ' ' + format(target, 'g'):>9}  {status:6} {what}")
    lines.append("-" * 110)
    for key, (_unit, what) in INFO.items():
        if key in results:
            lines.append(f"{key:36} {_fmt(results[key]):>12}  {'':9}  {'':6} {what}")
    for key in ("collscans_scale", "collscans_export"):
        for line in results.get(key) or []:
            lines.append(f"COLLSCAN ({key.split('_')[1]}): {line}")
    if results.get("errors"):
        for step, error in results["errors"].items():
            lines.append(f"step {step} FAILED: {error}")
    return "\n".join(lines)


def write_json(results: dict, path: str) -> None:
    with open(path, "w") as out:
        json.dump(results, out, indent=2, default=str, sort_keys=False)
        out.write("\n")
