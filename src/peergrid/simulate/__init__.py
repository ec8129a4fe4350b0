"""peergrid.simulate."""
