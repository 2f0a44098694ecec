"""Full-text search over the warehouse's articles: a tantivy index in ``DIR/search/``, kept in
step with ``articles`` by the load, and never trusted over it (every hit is checked)."""
