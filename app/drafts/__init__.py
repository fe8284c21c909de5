"""Wizard drafts kept server-side (instead of the browser's localStorage)."""
