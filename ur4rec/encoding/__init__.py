"""Frozen text encoders (eq. 5's Encoder), the resumable vector-store runner and e_u^aggr assembly."""
