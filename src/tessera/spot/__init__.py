"""Spot capacity: slot classes, preemption schedules and notices, fallback to on-demand, the ledger.

``policy`` and ``schedule`` are pure; ``manager`` does the I/O for the controller (notice files,
signals, kills, requeues); ``ledger`` owns the ``spot_attempts`` table and the report.
"""
