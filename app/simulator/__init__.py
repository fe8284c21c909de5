"""A stateful stand-in for the Package Builder API and the data-integrations layer.

It is its own FastAPI app (see `create_app`) and imports nothing from the BFF, so the
BFF can only reach it over HTTP, exactly as it reaches the real upstream.
"""
