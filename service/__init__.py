"""Listening archive for the MOCBOT Discord music bot."""

__version__ = "1.0.0"
