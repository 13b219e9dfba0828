"""Analysts' exports and report: pseudonymised Parquet tables written incrementally from the
log (export), the case and student facts they hold (facts), their columns (tables), the
output folder's manifest (manifest) and a self-contained HTML page of the figures (report).
"""
