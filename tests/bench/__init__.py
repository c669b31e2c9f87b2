"""`make bench`: the app against a minimal echo consumer on the same nginx and Daphne, one run."""
