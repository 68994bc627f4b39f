"""The reliability study (see README.md)."""
