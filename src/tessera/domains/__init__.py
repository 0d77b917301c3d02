"""Domain components: seismic imaging, reservoir flow and Monte Carlo finance.

Each module is plain science over arrays (NumPy on the CPU, PyTorch on ``cpu`` or ``cuda``
through ``tessera.kernels.backends``); workflows call them as components. Nothing here does
scheduling or I/O beyond returning arrays.

- ``seismic``: synthetic velocity models, shot modelling, reverse-time migration, stacking.
- ``greens``: the analytic 2D acoustic Green's function used to validate the modelling.
- ``reservoir``: single-phase pressure on a heterogeneous permeability grid, with wells.
- ``finance``: Monte Carlo option prices and portfolio value-at-risk, Black-Scholes.
"""
