"""Hardening methods: each takes a trained model and returns it fine-tuned."""
