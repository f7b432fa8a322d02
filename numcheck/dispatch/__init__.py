"""Running task jobs: the in-process pool of the embedded default."""
