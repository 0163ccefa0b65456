"""Intake's configuration, from the environment."""

from putright.shared.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    """Settings of the intake service."""
