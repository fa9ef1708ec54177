"""Course-wide performance report: `python -m benchmarks` prints one table and writes results/*.json.

Figures are reported beside their budgets and, where it makes sense, as a ratio against a baseline
measured in the same run (so a slow machine slows both). It reports; it never fails on a missed budget.
"""
