"""WOMBET (World Model-based Experience Transfer) in JAX."""

__version__ = "0.1.0"
