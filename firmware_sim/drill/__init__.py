"""`packline fleet drill`: a whole fleet update on one machine, checked by its own invariants."""
