"""The rlarm study (see README.md)."""
