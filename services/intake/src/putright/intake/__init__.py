"""Putright intake service."""
