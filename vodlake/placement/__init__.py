"""Popularity forecast, edge placement, prefill manifests, and the cache simulator judging them."""
