"""Training loops (supervised reranker training; retriever pre-training and joint training beside)."""
