"""The engine's ODM dialect, shared by the ODM export and ``study import-odm``: the ``ecrf:`` aliases that carry
what ODM 1.3.2 has no construct for (:mod:`aliases`), and conditions as canonical CEL (:mod:`conditions`).

Kept apart from both so that importing ODM never loads the export's database readers, and the two sides
cannot disagree on a name.
"""
