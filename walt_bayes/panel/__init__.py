"""Directed dyad-year panels: the embedded Middle East case data and the global COW panel."""
