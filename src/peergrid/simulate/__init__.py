"""Simulation engine."""

from peergrid.simulate.engine import compare, simulate
from peergrid.simulate.result import HEADLINE_METRICS, Comparison, Result

__all__ = ["HEADLINE_METRICS", "Comparison", "Result", "compare", "simulate"]
