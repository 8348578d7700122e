"""Rankers: anything that can be fitted on a prepared dataset and score candidate lists."""
