"""Rate-distortion evaluation: eval runs, classical baselines, published anchors, results schema, BD-rate, plots."""
