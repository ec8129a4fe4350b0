"""peergrid.metrics."""
