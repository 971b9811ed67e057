"""The amendment scenario's second study version: CD7-CAR-T 2.0.0, built by copying the bundled study and editing.

Version 2.0.0 removes ``APHAE`` from the leukapheresis form, adds the required ``APHNEW`` and tightens
the lymphodepletion dose tolerance from 10% to 5%.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

BUNDLED = Path(__file__).resolve().parent.parent / "forms" / "cd7-cart-saa"


def make_v2(folder: Path) -> Path:
    """Write version 2.0.0 into ``folder`` (a new folder) and return it."""
    shutil.copytree(BUNDLED, folder)
    study = json.loads((folder / "study.json").read_text(encoding="utf-8"))
    study["version"] = "2.0.0"
    study["parameters"]["ld_dose_tolerance"] = 0.05
    (folder / "study.json").write_text(json.dumps(study, ensure_ascii=False, indent=2), encoding="utf-8")
    aph_file = folder / "preconditioning" / "APH.json"
    aph = json.loads(aph_file.read_text(encoding="utf-8"))
    del aph["properties"]["APHAE"]
    aph["properties"]["APHNEW"] = {"type": "string", "title": "Apheresis catheter site",
                                   "x-ecrf-labels": {"zh": "单采导管部位"}, "maxLength": 100}
    aph["required"] = [name for name in aph["required"] if name != "APHAE"] + ["APHNEW"]
    aph_file.write_text(json.dumps(aph, ensure_ascii=False, indent=2), encoding="utf-8")
    return folder
