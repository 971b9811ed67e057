"""Synthetic CD7-CAR-T subjects: valid data for every form of the bundled study, on a real calendar.

Used by the study-build tests (and later by benchmarks and reports). A
subject's day 0 is ``infusion``; each visit's data is dated on its planned day.
"""

from __future__ import annotations

import datetime as dt

STUDY = "CD7_CART_SAA"


def on(day0: dt.date, day: int) -> str:
    return (day0 + dt.timedelta(days=day)).isoformat()


def form_data(form: str, event: str, visit_date: str, *, sex: str = "M", infusion: dt.date, fail: bool = False,
              day: int = 0) -> dict:
    """Plausible, complete data for one form at one visit (``fail`` makes the screening labs ineligible)."""
    recovering = day >= 60  # counts recover by month 2
    if form == "IC":
        return {"RFICDTC": visit_date, "ICVER": "2.0", "ICREAD": True}
    if form == "DM":
        data = {"BRTHDTC": "1985-06-15", "SEX": sex, "ETHNIC": "HAN", "NATION": "CN"}
        if sex == "F":
            data["CHILDPOT"] = False
        return data
    if form == "SAAHX":
        return {"DIAGDTC": "2023-02-01", "SEVDIAG": "severe", "DXCELL": 15, "ATG": True, "ATGRESP": "NR",
                "CSA": True, "CSARESP": "PR", "TPORA": False, "RRSTAT": "refractory", "HSCTELIG": False,
                "HSCTREAS": "no_donor"}
    if form == "IE":
        data = {f"IN{n:02d}": True for n in range(1, 12)} | {f"EX{n:02d}": False for n in range(1, 15)}
        if fail:
            data["IN07"] = False
        return data | {"IEDTC": visit_date}
    if form == "VS":
        return {"VSDTC": visit_date, "HEIGHT": 170, "WEIGHT": 70, "TEMP": 36.8, "HR": 78, "SYSBP": 120,
                "DIABP": 75, "OXYSAT": 98}
    if form == "ECOG":
        return {"ECOGDTC": visit_date, "ECOG": 1}
    if form == "LB_CHEM":
        return {"LBDTC": visit_date, "ALT": 200 if fail else 30, "AST": 28, "BILI": 12, "CREAT": 80}
    if form == "LB_HEM":
        if recovering:
            return {"LBDTC": visit_date, "HGB": 112, "WBC": 3.9, "NEUT": 1.6, "LYM": 1.2, "PLAT": 85, "RETI": 70}
        return {"LBDTC": visit_date, "HGB": 72, "WBC": 1.1, "NEUT": 0.3, "LYM": 0.6, "PLAT": 12, "RETI": 18}
    if form == "LB_VIRO":
        return {"VIRODTC": visit_date, "HIV": "NEGATIVE", "HBSAG": "NEGATIVE", "HBVDNA": "UNDETECTABLE",
                "HCVAB": "NEGATIVE", "TPAB": "NEGATIVE", "CMVDNA": "UNDETECTABLE"}
    if form == "PREG":
        return {"HCGPERF": False, "HCGND": "male participant"} if sex == "M" else \
            {"HCGPERF": True, "HCGDTC": visit_date, "HCGRES": "NEGATIVE"}
    if form == "ECHO":
        return {"ECHODTC": visit_date, "LVEF": 62}
    if form == "BM":
        return {"BMDTC": visit_date, "CELLULARITY": 40 if recovering else 10,
                "RESIDUAL_HEME": 45 if recovering else None,
                "CYTOGEN": "normal", "PNH_CLONE": 2, "MDSAML": False}
    if form == "APH":
        return {"APHDTC": visit_date, "APHVOL": 12, "APHCD3": 4.2e9, "APHAE": False}
    if form == "MFG":
        return {"LOT": "CD7-0001", "MFGDTC": visit_date, "VIABILITY": 92, "CARPCT": 45, "TOTALCAR": 2.1e8,
                "RELEASE": "pass"}
    if form == "LD":
        return {"LD_DAYS": [{"LDDAY": d, "LDDTC": on(infusion, d), "FLU_DOSE": 54.5, "CY_DOSE": 545}
                            for d in (-5, -4, -3)]}
    if form == "INF":
        return {"INFDTC": f"{infusion.isoformat()}T02:00:00Z", "LOT": "CD7-0001", "WEIGHT_BASIS": 70,
                "CAR_CELLS": 2.1e8, "PREMED": True, "INFREACT": False}
    if form == "CRS":
        fever = 1 <= day <= 4
        return {"CRSDTC": visit_date, "TEMP_MAX": 38.6 if fever else 36.9,
                "HYPOTENSION": "fluids_only" if day == 2 else "none",
                "O2_DEVICE": "room_air", "ANTICYTOKINE_GIVEN": day >= 3}
    if form == "ICANS":
        return {"ICANSDTC": visit_date, "UNAROUSABLE": False, "ICE_ORIENT": 4, "ICE_NAMING": 3, "ICE_COMMANDS": 1,
                "ICE_WRITING": 0 if day == 5 else 1, "ICE_ATTENTION": 1, "CONSCIOUSNESS": "alert", "SEIZURE": "none",
                "MOTOR_WEAKNESS": False, "ICP_EDEMA": "none"}
    if form == "CYTO":
        return {"CYTODTC": f"{visit_date}T01:00:00Z", "IL6": 120.5, "IFNG": 80, "FERRITIN": 2400, "CRP": 35}
    if form == "PERSIST":
        return {"PERSDTC": visit_date, "FLOW_CARPCT": 12.5, "QPCR_COPIES": 25000}
    if form == "RESP":
        return {"RESPDTC": visit_date, "HGB": 112, "NEUT": 1.6, "PLAT": 85, "RETI": 70, "TRANSFUSED_28D": False}
    if form == "SURV":
        return {"SURVDTC": visit_date, "ALIVE": True, "DISSTAT": "response"}
    if form == "QOL":
        return {"QSDTC": visit_date, "EQ_MOB": 1, "EQ_CARE": 1, "EQ_ACT": 2, "EQ_PAIN": 1, "EQ_ANX": 2, "EQ_VAS": 80}
    if form == "EOS":
        return {"EOSDTC": visit_date, "EOSREAS": "screen_failure" if fail else "completed"}
    if form == "AE":
        return {"AE": [{"AETERM": "Cytokine release syndrome", "AETOXGR": 2, "AESTDTC": on(infusion, 1),
                        "AEENDTC": on(infusion, 5), "AESER": False, "AERELCAR": "definite", "AERELLD": "unlikely",
                        "AEOUT": "recovered"}]}
    if form == "CM":
        return {"CM": [{"CMTRT": "Tocilizumab", "CMCLASS": "tocilizumab", "CMINDC": "crs", "CMDOSE": 8,
                        "CMDOSU": "mg/kg",
                        "CMROUTE": "iv", "CMSTDTC": on(infusion, 2), "CMONGO": False, "CMENDTC": on(infusion, 2)}]}
    if form == "TR":
        return {"TR": [{"TRTYPE": "PLT", "TRDTC": on(infusion, 3), "TRUNITS": 1}]}
    if form == "OMICS":
        return {"OMICS": [{"OMID": "S-0001", "OMTYPE": "transcriptomics_sc", "OMSPEC": "pbmc", "OMTPT": "D7",
                           "OMDTC": f"{on(infusion, 7)}T01:30:00Z", "OMSTOR": "F2/R3/B4/12"}]}
    if form == "DEATH":
        raise ValueError("synthetic subjects do not die")
    raise KeyError(form)


def schedule(study_meta: dict, infusion: dt.date) -> list[tuple[str, str, str, int]]:
    """(event, form, visit date, day) for every scheduled form, in visit order (logs last, no death)."""
    plan = []
    for event in study_meta["events"]:
        if event.get("repeating"):
            continue
        if event["oid"] == "SCREEN":
            day = -20
        elif event["oid"] == "APH":
            day = -14
        elif event.get("log"):
            day = 0
        else:
            day = event["day"]
        for form in event["forms"]:
            if form in ("DEATH",) or (event.get("log") and form == "EOS"):
                continue
            plan.append((event["oid"], form, on(infusion, day), day))
    return plan
