"""Deadlines's configuration, from the environment."""

from putright.shared.settings import ServiceSettings


class DeadlinesSettings(ServiceSettings):
    """Settings of the deadlines service."""
