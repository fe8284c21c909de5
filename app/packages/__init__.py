"""Audience packages: list, create, merge, results page, evaluation, CSV, regenerate."""
