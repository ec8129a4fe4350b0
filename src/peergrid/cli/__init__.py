"""peergrid.cli."""
