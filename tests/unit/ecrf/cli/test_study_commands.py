"""ecrf study: check and load a study folder."""

import json
import shutil

from conftest import MINI_STUDY


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
