"""The wizard's look-ups: event search and natural-language customer filters."""
