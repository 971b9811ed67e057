"""``ecrf audit verify`` alone: its speed against the server's raw read of the same events, in the same run.

A database of synthetic subjects (keyed events and their projections, as the
engine writes them) is filled once; then ``verify_all`` and the raw read
alternate (see :func:`bench.export.verify`). Quicker than the export step,
which measures the same on its export database.
"""

from __future__ import annotations

from bench.common import STUDY, bundled_app, progress
from bench.export import verify
from bench.synth import Synth, write_subjects


def run(uri: str, quick: bool) -> dict:
    """``verify_vs_server_read`` and the rates beside it, over 100 (quick) or 1,000 subjects of 24 forms."""
    subjects = 100 if quick else 1000
    app = bundled_app(uri)
    with app.app_context():
        from ecrf.db import database
        from ecrf.studies import study_runtime

        db = database()
        synth = Synth(study_runtime(STUDY), 24)
        write_subjects(db, synth, [f"V-{n:05d}" for n in range(subjects)], status="enrolled",
                       label="verify: filling")
        progress(f"verify: verify_all and the raw read, alternating, over {subjects} subjects")
        verified = verify(db, rounds=3 if quick else 5)
    return {
        "verify_vs_server_read": verified["verify_vs_server_read"],
        "verify_vs_sha256": verified["ratios_to_raw_sha256"]["verify_all"],
        "verify_events_per_s": verified["events_per_s"]["verify_all"],
        "verify_ceiling_server_read_vs_sha256": verified["ratios_to_raw_sha256"]["server_read_raw_bson"],
        "verify_ceiling_events_and_projections_vs_server_read":
            verified["verify_ceiling_events_and_projections_vs_server_read"],
        "verify_main_thread_cpu_fraction": verified["verify_main_thread_cpu_fraction"],
        "verify_problems": verified["problems"],
        "details_verify": verified,
    }
