"""The dev stack (``python -m app dev``) and its tools: a kept identity, one stack per port,
``python -m app listen``. Nothing here runs in production."""
