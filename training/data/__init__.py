"""Interaction logs: reading the dataset formats, the in-memory log, splits and training batches."""
