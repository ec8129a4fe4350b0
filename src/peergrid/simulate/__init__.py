"""Simulation engine."""

from peergrid.simulate.engine import HEADLINE_METRICS, Comparison, Result, compare, simulate

__all__ = ["HEADLINE_METRICS", "Comparison", "Result", "compare", "simulate"]
