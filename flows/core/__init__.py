"""Shared vocabulary both stages use: units, schema, settings, dates, URLs, files, SQL."""
