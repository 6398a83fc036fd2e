"""Fuzzing every input from outside: wire messages and their handlers, scans, and label text.

`strategies` holds the Hypothesis strategies, `targets` the checks run against the real code,
and `runner` the time-boxed `packline fuzz` run that reports what it tried.
"""
