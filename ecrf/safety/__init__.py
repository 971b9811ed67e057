"""Serious adverse event (SAE) reporting on the clock (ICH E2A, CIOMS I).

    a save that meets an expedited rule (triggers) -> an SAE report opens (reports)
    draft -> submitted -> acknowledged -> follow-up requested -> submitted ... -> closed
    due 24 h after the site's awareness (clock); the CIOMS-I form as PDF (cioms)
"""
