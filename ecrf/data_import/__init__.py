"""Clinical data import: ODM ClinicalData and central-lab CSV files through the one write path.

    file -> submissions (one per form instance, with the source's provenance)
         -> plan (match, type, validate: created / updated / unchanged / refused)
         -> write (register missing subjects, ``save_record`` with provenance) -> summary

Readers (:mod:`.odm_file`, :mod:`.csv_file`) turn a file into :class:`.submission.Submission`
values; :mod:`.batch` plans and writes them; :mod:`.jobs` runs a batch in the background for
the API and the web page; :mod:`.commands` is the ``ecrf import`` command line.
"""
