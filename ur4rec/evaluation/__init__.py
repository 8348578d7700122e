"""Metrics, the evaluation harness, significance tests and result tables."""
