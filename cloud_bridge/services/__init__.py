"""The bridge's operations on its database: allocate, gate, release, change and cancel orders.

Each function works inside the caller's transaction and returns what must be published to
stations once that transaction has committed, so a message never announces an uncommitted change.
"""
