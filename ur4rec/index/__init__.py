"""FAISS indexes over item vectors: nearest-item search and the preference-item matching check."""
