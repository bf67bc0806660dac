"""Figures from distances: metrics with intervals, thresholds, protocols, baselines, retrieval."""
