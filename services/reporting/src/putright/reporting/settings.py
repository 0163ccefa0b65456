"""Reporting's configuration, from the environment."""

from putright.shared.settings import ServiceSettings


class ReportingSettings(ServiceSettings):
    """Settings of the reporting service."""
