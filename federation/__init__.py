"""Accord federation node: the Django project package and the federation core."""

__version__ = "0.1.0"
