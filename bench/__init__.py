"""Benchmarks of the eCRF engine (issue 9): ratios against bare baselines measured in the same run.

Run ``python -m bench [--quick] [--json FILE]``; see ``bench/README.md``.
"""
