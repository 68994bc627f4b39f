"""The cascade study (see README.md)."""
