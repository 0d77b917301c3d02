"""tessera: run compute-heavy batch work in parallel on the right hardware at the lowest cost."""
