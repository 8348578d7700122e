"""Section 3.1: prompt templates (eq. 1, 3), LLM backends (eq. 2, 3) and the batched, resumable runner."""
