"""Putright reporting service."""
