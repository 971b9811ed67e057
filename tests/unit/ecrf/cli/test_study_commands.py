"""ecrf study: check and load a study folder; the advice at the end of an ODM import."""

import json
import shutil
from pathlib import Path

from conftest import MINI_STUDY

from ecrf.exports.odm import write_odm
from ecrf.studies import study_runtime

ODM_FIXTURES = Path(__file__).parents[3] / "fixtures" / "odm"


def test_study_check_passes_a_valid_study(cli):
    result = cli("study", "check", str(MINI_STUDY))
    assert result.exit_code == 0 and "MINI" in result.output and "ok" in result.output


def test_study_check_prints_file_pointer_message_and_exits_1(cli, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(MINI_STUDY, broken)
    vs = broken / "screening" / "VS.json"
    document = json.loads(vs.read_text())
    document["required"] = ["NOPE"]
    vs.write_text(json.dumps(document))
    result = cli("study", "check", str(broken))
    assert result.exit_code == 1
    assert "screening/VS.json: /required/0: required names unknown item 'NOPE'" in result.output


def test_study_load_is_idempotent_and_a_new_version_becomes_current(app, cli, tmp_path):
    assert "already loaded" in cli("study", "load", str(MINI_STUDY)).output
    newer = tmp_path / "newer"
    shutil.copytree(MINI_STUDY, newer)
    study = json.loads((newer / "study.json").read_text())
    study["version"] = "2"
    (newer / "study.json").write_text(json.dumps(study))
    result = cli("study", "load", str(newer))
    assert result.exit_code == 0 and "version 2 loaded" in result.output
    with app.app_context():
        from ecrf.studies import Study, study_runtime
        assert study_runtime("MINI").version == "2"
        assert Study.objects(oid="MINI").count() == 2


def test_import_odm_of_a_foreign_file_without_a_schedule_advises_adding_days_and_windows(app, tmp_path):
    result = app.test_cli_runner().invoke(args=["study", "import-odm", str(ODM_FIXTURES / "redcap.xml"),
                                                "-o", str(tmp_path / "draft")])
    assert result.exit_code == 0, result.output
    assert result.output.rstrip().endswith("2 forms and 1 events; add days and windows")


def test_import_odm_of_our_own_export_which_carries_days_and_windows_gives_no_such_advice(cd7_app, tmp_path):
    path = tmp_path / "cd7.xml"
    with cd7_app.app_context(), open(path, "wb") as out:
        write_odm(out, study_runtime("CD7_CART_SAA"), [])
    result = cd7_app.test_cli_runner().invoke(args=["study", "import-odm", str(path), "-o", str(tmp_path / "draft")])
    assert result.exit_code == 0, result.output
    last = result.output.rstrip().splitlines()[-1]
    assert "draft study CD7_CART_SAA" in last and "add days and windows" not in last
