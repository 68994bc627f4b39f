"""Helpers the studies share: writing results (``results_io``) and the small serving world (``world``)."""
