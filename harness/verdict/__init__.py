"""From a run to a verdict: protocol match by axis, tolerance bands, the claims schema and value lock."""
