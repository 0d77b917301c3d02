"""Dollars: this machine's inventory, the instance catalog, the cost ledger, budgets and TCO.

Pure parts (``catalog`` lookups, ``ledger``, ``budget``, ``tco``) take values and return values;
``db`` owns the cost tables in the store and ``refresh`` talks to AWS.
"""
