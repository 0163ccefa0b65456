"""Letters' configuration, from the environment."""

from pydantic import Field

from putright.shared.settings import ServiceSettings


class LettersSettings(ServiceSettings):
    """Settings of the letters service: the mail server, and how hard to try sending."""

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_start_tls: bool = False
    smtp_use_tls: bool = False
    smtp_timeout_seconds: float = 30.0
    mail_from: str = "complaints@putright.invalid"
    message_id_domain: str = "putright.invalid"
    send_poll_seconds: float = Field(default=0.5, gt=0)
    send_workers: int = Field(default=2, ge=1, description="Concurrent sender loops.")
    send_batch_size: int = Field(
        default=50, ge=1, description="Letters one sender loop claims in one transaction."
    )
    send_max_attempts: int = Field(default=8, ge=1)
    send_backoff_seconds: float = Field(default=30.0, ge=0)
    send_backoff_max_seconds: float = Field(default=3600.0, ge=0)
    profile_wait_seconds: float = Field(
        default=300.0,
        ge=0,
        description="How long a letter waits for its landlord's profile before it goes unbranded.",
    )
