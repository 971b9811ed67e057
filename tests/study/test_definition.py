"""The bundled study loads, matches the sponsor's data dictionary, and every form of every event renders."""


import pytest
from conftest import BUNDLED_STUDY, login

from ecrf.study_folder import read_study

DICTIONARY = {
    "DM": ({"BRTHDTC", "SEX", "CHILDPOT"}, {"AGE"}),
    "VS": ({"HEIGHT", "WEIGHT", "TEMP", "HR", "SYSBP", "DIABP", "OXYSAT"}, {"BSA"}),
    "ECOG": ({"ECOG"}, set()),
    "LB_CHEM": ({"ALT", "AST", "BILI", "CREAT"}, {"ALT_GRADE", "AST_GRADE", "BILI_GRADE", "CREAT_GRADE"}),
    "LB_HEM": ({"HGB", "NEUT", "PLAT", "RETI", "WBC", "LYM"},
               {"HGB_GRADE", "NEUT_GRADE", "PLAT_GRADE", "WBC_GRADE", "LYM_GRADE"}),
    "BM": ({"CELLULARITY", "RESIDUAL_HEME", "CYTOGEN", "PNH_CLONE"}, set()),
    "INF": ({"INFDTC", "WEIGHT_BASIS", "CAR_CELLS"}, {"DOSE_PER_KG"}),
    "CRS": ({"TEMP_MAX", "HYPOTENSION", "VASOPRESSORS", "O2_DEVICE", "O2_FLOW", "ANTICYTOKINE_GIVEN"}, {"CRS_GRADE"}),
    "ICANS": ({"ICE_ORIENT", "ICE_NAMING", "ICE_COMMANDS", "ICE_WRITING", "ICE_ATTENTION", "UNAROUSABLE",
               "CONSCIOUSNESS", "SEIZURE", "MOTOR_WEAKNESS", "ICP_EDEMA"}, {"ICE_SCORE", "ICANS_GRADE"}),
    "RESP": ({"HGB", "NEUT", "PLAT", "RETI", "CELLULARITY", "RESIDUAL_HEME", "TRANSFUSED_28D"},
             {"SAA_SEVERITY", "RESPONSE"}),
    "IE": (set(), {"ELIGIBLE", "FAILED"}),
}
EVENTS = ["SCREEN", "APH", "LD", "D0"] + [f"D{d}" for d in range(1, 15)] + \
    ["D21", "D28", "M2", "M3", "M6", "M9", "M12", "M18", "M24", "M30", "M36", "UNSCHED", "LOGS"]


def test_the_bundled_study_passes_its_check():
    definition = read_study(BUNDLED_STUDY)
    assert definition.oid == "CD7_CART_SAA"
    assert [e["oid"] for e in definition.study["events"]] == EVENTS


@pytest.mark.parametrize("form", DICTIONARY)
def test_sponsor_data_dictionary_items_and_derivations_exist(form):
    schema = read_study(BUNDLED_STUDY).forms[form]["schema"]
    items, derived = DICTIONARY[form]
    assert items <= set(schema["properties"]), items - set(schema["properties"])
    assert derived <= set(schema.get("x-ecrf-derived", {}))


def test_code_lists_use_the_sponsor_codes():
    forms = {oid: f["schema"] for oid, f in read_study(BUNDLED_STUDY).forms.items()}
    codes = lambda form, item: [c["const"] for c in forms[form]["properties"][item]["oneOf"]]  # noqa: E731
    assert codes("DM", "SEX") == ["M", "F"]
    assert codes("CRS", "HYPOTENSION") == ["none", "fluids_only", "vasopressor"]
    assert codes("CRS", "O2_DEVICE") == ["room_air", "low_flow_nc", "blow_by", "high_flow_nc", "facemask",
                                         "non_rebreather", "venturi", "cpap", "bipap", "mechanical_ventilation"]
    assert codes("ICANS", "CONSCIOUSNESS") == ["alert", "spontaneous", "voice", "tactile", "unarousable"]
    assert codes("ICANS", "SEIZURE") == ["none", "rapid_resolving", "prolonged_or_repetitive"]
    assert codes("ICANS", "ICP_EDEMA") == ["none", "focal", "diffuse"]


def test_every_label_has_a_chinese_translation():
    definition = read_study(BUNDLED_STUDY)
    missing = []

    def walk(node, where):
        if isinstance(node, dict):
            if "title" in node and "zh" not in node.get("x-ecrf-labels", {}) and "zh" not in node.get("labels", {}):
                missing.append(where)
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{where}/{index}")

    for form in definition.forms.values():
        walk(form["schema"], form["file"])
    for check in [c for f in definition.forms.values() for c in f["schema"].get("x-ecrf-checks", [])]:
        if "zh" not in check["message"]:
            missing.append(check["id"])
    assert missing == []


def test_study_parameters_of_clinical_md():
    params = read_study(BUNDLED_STUDY).study["parameters"]
    assert params["retic_threshold_saa"] == 60 and params["car_t_target_per_kg"] == 3_000_000
    assert params["car_t_dose_tolerance"] == 0.2 and params["ld_dose_tolerance"] == 0.1
    assert params["fludarabine_mg_per_m2"] == 30 and params["cyclophosphamide_mg_per_m2"] == 300
    assert params["response_visits"] == ["M3", "M6"] and params["pr_requires_transfusion_free"] is True


def test_every_form_of_every_event_renders(cd7_app, cd7):
    subject = cd7("staff01").register()
    client = cd7_app.test_client()
    login(client, "staff01")
    meta = cd7("staff01").get("/studies/CD7_CART_SAA").get_json()
    pages = 0
    for event in meta["events"]:
        for form in event["forms"]:
            response = client.get(f"/studies/CD7_CART_SAA/subjects/{subject}/events/{event['oid']}/forms/{form}")
            assert response.status_code == 200, (event["oid"], form)
            pages += 1
    assert pages > 150
    client.get("/lang/zh")
    page = client.get(f"/studies/CD7_CART_SAA/subjects/{subject}/events/SCREEN/forms/LB_CHEM").get_data(as_text=True)
    assert "丙氨酸氨基转移酶" in page and "血生化" in page
