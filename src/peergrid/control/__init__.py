"""peergrid.control."""
