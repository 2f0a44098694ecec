"""Sources turned into lazy streams of work units (one module per kind of source)."""
