"""Ray cluster-launcher configuration written from tessera's instance catalog (``tessera cluster config``)."""
