"""Datasets, the evaluation protocol and the prepared-dataset cache."""
