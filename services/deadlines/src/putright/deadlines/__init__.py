"""Putright deadlines service."""
