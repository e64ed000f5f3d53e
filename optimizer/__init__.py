"""contactopt: multi-objective contact optimization under hard marketing guardrails."""

__version__ = "0.1.0"
