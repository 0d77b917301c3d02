"""The durable state of tessera: jobs, attempts, events, results, leases (SQLite or PostgreSQL)."""

from tessera.store.records import Candidate, Claim, End, Finished, Move, NewJob
from tessera.store.sql import Store

__all__ = ["Candidate", "Claim", "End", "Finished", "Move", "NewJob", "Store"]
