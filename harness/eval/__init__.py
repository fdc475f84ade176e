"""Generation engine: one loop (reference = plain HF generate; fast = the same answers with less work), batching,
prefill, OOM halving, sharding, beam length normalisers."""
