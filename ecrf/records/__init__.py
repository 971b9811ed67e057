"""Records: the one write path every save takes, and the current-record projection.

    data -> normalise -> hard validation -> completeness -> derivations
         -> edit checks -> audit append -> projection

- :mod:`~ecrf.records.document` — the ``records`` projection and how it is brought forward;
- :mod:`~ecrf.records.normalise`, :mod:`~ecrf.records.validation`, :mod:`~ecrf.records.scope`,
  :mod:`~ecrf.records.rules` — the pure steps (no database);
- :mod:`~ecrf.records.reads` — what the rules and the users read;
- :mod:`~ecrf.records.save` and :mod:`~ecrf.records.recheck` — the services that string the steps together;
- :mod:`~ecrf.records.enrollment`, :mod:`~ecrf.records.query_sync`, :mod:`~ecrf.records.broken` —
  what follows a save and never fails it.

The audit stream is the truth; the ``records`` collection is its projection
and is brought forward whenever it is found behind.
"""
