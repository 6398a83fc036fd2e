"""Posting what shipped to Sage: the outbox, corrections, reading from Sage, reconciliation.

`cloud_bridge.sage` speaks Sage's HTTP API; this package decides what to post and keeps the
record of what was posted, so a document is never created twice whatever fails in between.
"""
