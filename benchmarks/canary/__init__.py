"""The canary study (see README.md)."""
