"""Teacher -> student knowledge transfer for rankers with a binary (CTR-style) head."""
