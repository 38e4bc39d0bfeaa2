"""Privacy benchmark: the known attacks on the stored person encodings (``make bench-privacy``)."""
