"""Watches: open builds the worker polls until a terminal status, then emits once."""
