"""Transform: raw bytes of one input in, an Article or a Rejection out (pure functions)."""
