"""Coding of verbatim terms to dictionaries (CTCAE v5.0 / MedDRA): the dictionaries, the codings, the safety tables."""
