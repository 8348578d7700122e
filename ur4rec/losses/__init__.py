"""Training objectives, one registry (``losses``): recommendation losses here, pre-training ones beside."""
