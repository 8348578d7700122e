"""How an augment vector reaches a backbone (paper section 3.3): text augmentation here; KAR, UR4Rec beside."""
