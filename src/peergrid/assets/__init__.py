"""peergrid.assets."""
