"""Data access, one module per resource: named queries in, rows out, archive errors raised."""
