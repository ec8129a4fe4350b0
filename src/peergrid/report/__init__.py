"""peergrid.report."""
