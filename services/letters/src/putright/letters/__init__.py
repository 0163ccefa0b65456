"""Putright letters service."""
