"""peergrid.data."""
