"""Linkage benchmark (``make bench-linkage``): this project's linkage on pseudonymised values against Splink on the
plain values, on synthetic partnerships of 2k, 20k and 200k dyads and on FEBRL3/FEBRL4."""
