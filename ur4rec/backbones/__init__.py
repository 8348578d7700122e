"""Reranking backbones (paper section 4.2): DLCM, PRM, SetRank, GRU4Rec, SASRec; one file each.

Each module registers its class with ``@BACKBONES.register(...)``; ``ur4rec.components`` imports
every module here, so a new backbone is one new file and nothing else.
"""
