"""Grids of fits run as Dask tasks, and the executor shared with SBC and k-fold CV."""
