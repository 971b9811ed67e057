"""``python -m bench [--quick] [--json FILE]``: run every benchmark, print the table, optionally write JSON."""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import time
import traceback

from bench import plans
from bench.common import install_counter, progress
from bench.report import judge, table, write_json

STEPS = ("save", "http", "scale", "export", "render", "checks", "verify", "audit")


def notes(args, results: dict) -> list[str]:
    large = results.get("scaling_large_events")
    found = [
        "All numbers come from this one run on this machine; every ratio is against a baseline measured in the same "
        "run on the same server (one embedded SecantusDB started for the run, or mongomock where named).",
        "save_overhead_ratio: median of full save_record() calls of SCREEN/IE (26 items, the most of any form; a "
        "create on a freshly registered subject, which also moves the subject to 'enrolled') ÷ median of one "
        "insert_one of the event the engine wrote + one update_one upsert of its projection, into scratch collections "
        "indexed like audit_events and records; the two are interleaved. save_overhead_floor_ratio adds to the bare "
        "writes the save's one read alone (records.read_for_save of the same subject, timed after each pair) and the "
        "pure steps' CPU: the least a save that reads before it writes could cost, ÷ the bare writes.",
        "engine_cpu_ms_per_save: time.process_time() of the benchmark process (the app: engine, mongoengine and "
        "pymongo; the database runs in its own process) around a full save, median, minus the same around the bare "
        "writes. engine_wall_extra_ms_per_save is the wall-clock difference of the medians; "
        "engine_pure_steps_cpu_ms_per_save times only the steps that touch no database (normalise, validate, diff, "
        "completeness, derive, checks, flags, event hash).",
        "http: gunicorn sync workers serving bench.wsgi on 127.0.0.1, client threads with requests PUT SCREEN/IE for "
        "distinct subjects; the bare baseline is the same thread count doing insert_one+update_one pairs.",
        "scaling: the database is filled with synthetic full casebooks (audit events and projections, insert_many in "
        "batches of 1,000); measured saves are save_record() of SCREEN/IE (the metric) and SCREEN/LB_CHEM "
        "(scaling_ratio_lb_chem, a form whose save re-checks dependent records) on fresh subjects; a form's saves stop "
        "early after a time budget (at least 3). Audit history and matrix reads are GETs through the Flask test client "
        "for subjects with a full casebook (176 events, 175 records).",
        "verify_vs_sha256: events/s of ecrf.integrity.verify_all() over the export database ÷ events/s of "
        "hashlib.sha256 over the same events' canonical bytes (audit.canonical_json), precomputed. The ceilings: "
        "verify_ceiling_server_read_vs_sha256 is the server sending every event in stream order as raw BSON (no "
        "decoding: RawBSONDocument), verify_ceiling_bson_decode_vs_sha256 is decoding them in memory, each ÷ raw "
        "SHA-256. verify_vs_server_read: verify_all events/s ÷ that raw read's events/s, the two alternated (medians "
        "of 3, or 5 in full runs); the verify step measures it alone on 100 (1,000) synthetic subjects of 24 forms, "
        "keyed events. verify_ceiling_events_and_projections_vs_server_read: that raw read's seconds ÷ the seconds of "
        "the raw reads, one after the other, of the events and every projection verify compares (alternated with "
        "both): verify's best.",
        "export: time without tracing, peak memory from a second run under tracemalloc (Python allocations); output to "
        "a temporary file. CSV is measured at small sizes before the ODM sizes are filled (sizes kept from when its "
        "cost grew with the square of the study; it reads one subject's records in one query now). export_memory_ratio "
        "is the worse of ODM and CSV.",
        "render: GET of the SCREEN/IE form page (a saved record) through a Flask test client signed in as site staff, "
        "against flask.render_template of the same template with the keyword arguments the view passed (captured "
        "during one GET), in a request context of the same user, after each GET.",
        "checks: every scheduled record of one synthetic subject (scopes built by build_scope and derive in visit "
        "order), all checks through the engine's run_checks with a new CEL context per record (not the bindings the "
        "engine keeps per form and thread), compiled programs vs cel.evaluate(source) per evaluation; both rates "
        "include building the contexts (the _eval_only ratio not).",
        "Synthetic records carry no derived values (their derivations are not run).",
        "collscans_*: query shapes captured with pymongo command monitoring during one save / read / export of one "
        "subject at the largest size, explained by the server; only filtered shapes planned as COLLSCAN are listed.",
    ]
    if args.quick:
        found.append(f"--quick: scaling_ratio_1e6_vs_1e3 compares {large:,} with about 1,000 stored audit events, "
                     "not 1e6 (SecantusDB ingests about 2,000 indexed documents/s here; 1e6 events with projections "
                     "take ~20 minutes); ODM export at 20 and 100 subjects of 24 records each, odm_export_s1k_s is "
                     "extrapolated linearly from 100 subjects; CSV at 4 and 8 subjects; fewer saves and requests."
                     if large else "--quick run.")
    elif results.get("odm_export_s1k_measured") is False:
        found.append("odm_export_s1k_s is extrapolated linearly from the largest ODM size measured.")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes; under 2 minutes on 2 idle cores")
    parser.add_argument("--json", metavar="FILE", help="write every result to FILE as JSON")
    parser.add_argument("--only", metavar="STEPS", help=f"comma-separated subset of {','.join(STEPS)}")
    parser.add_argument("--scale-events", type=int, metavar="N",
                        help="audit events at the large scaling size (default 3e4 with --quick, else 1e6)")
    parser.add_argument("--profile", action="store_true", help="also cProfile full saves (kept in the JSON details)")
    args = parser.parse_args(argv)
    steps = args.only.split(",") if args.only else list(STEPS)
    unknown = set(steps) - set(STEPS)
    if unknown:
        parser.error(f"unknown steps: {', '.join(sorted(unknown))}")

    logging.getLogger("ecrf").setLevel(logging.WARNING)
    install_counter()  # before any client exists: command monitoring applies to clients created afterwards
    plans.install()
    started = time.perf_counter()
    results: dict = {"mode": "quick" if args.quick else "full", "steps": steps,
                     "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                 "platform": platform.platform(), "load_avg_start": os.getloadavg()},
                     "errors": {}}

    from bench.common import embedded_server

    with embedded_server() as uri:
        for step in steps:
            progress(f"--- {step}")
            t0 = time.perf_counter()
            try:
                if step == "save":
                    from bench import save
                    results.update(save.run(uri, args.quick, do_profile=args.profile))
                elif step == "http":
                    from bench import http
                    results.update(http.run(uri, args.quick))
                elif step == "scale":
                    from bench import scale
                    results.update(scale.run(uri, args.quick, large=args.scale_events))
                elif step == "export":
                    from bench import export
                    results.update(export.run(uri, args.quick))
                elif step == "render":
                    from bench import render
                    results.update(render.run(uri, args.quick))
                elif step == "checks":
                    from bench import checks
                    results.update(checks.run(uri, args.quick))
                elif step == "verify":
                    from bench import verify
                    results.update(verify.run(uri, args.quick))
                elif step == "audit":
                    from bench import audit_page
                    results.update(audit_page.run(uri, args.quick))
            except Exception as exc:  # one failed step must not lose the others' results
                traceback.print_exc()
                results["errors"][step] = f"{type(exc).__name__}: {exc}"
            results.setdefault("step_seconds", {})[step] = round(time.perf_counter() - t0, 1)
    results["elapsed_s"] = round(time.perf_counter() - started, 1)
    results["machine"]["load_avg_end"] = os.getloadavg()
    results["targets"] = judge(results)
    results["notes"] = notes(args, results)
    print(table(results))
    print(f"\n{results['mode']} run: {results['elapsed_s']} s "
          f"(load average {results['machine']['load_avg_start'][0]:.1f} at start, "
          f"{results['machine']['load_avg_end'][0]:.1f} at end, {os.cpu_count()} CPUs)")
    if args.json:
        write_json(results, args.json)
        print(f"results written to {args.json}")
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
