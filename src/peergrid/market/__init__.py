"""peergrid.market."""
