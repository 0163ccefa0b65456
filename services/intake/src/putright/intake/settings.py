"""Intake's configuration, from the environment."""

from pydantic import Field, SecretStr

from putright.shared.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    """Settings of the intake service."""

    admin_token: SecretStr | None = Field(
        default=None, description="Platform-admin token; the admin API is off without one."
    )
    form_secret: SecretStr = Field(
        default=SecretStr("change-me-in-production"),
        description="Signs the web form's CSRF tokens.",
    )
    form_token_max_age_seconds: int = Field(default=4 * 3600, gt=0)
    max_request_bytes: int = Field(default=1_000_000, gt=0)
    webhook_tolerance_seconds: int = Field(default=300, gt=0)
    smtp_enabled: bool = False
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    smtp_max_message_bytes: int = Field(default=10_000_000, gt=0)
    contractor_consumer_enabled: bool = True
    directory_ttl_seconds: float = Field(
        default=5.0,
        ge=0,
        description="How long an API key's caller and a landlord's profile are kept in "
        "memory; a change made by another replica shows within this time (0: no caching).",
    )
