"""Configuration every service shares, read from the environment by pydantic-settings."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from putright.shared.topics import Topics


class ServiceSettings(BaseSettings):
    """Settings common to all four services; each service subclasses it with its own."""

    model_config = SettingsConfigDict(env_prefix="PUTRIGHT_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="postgresql+asyncpg://putright:putright@127.0.0.1:55432/putright",
        validation_alias="DATABASE_URL",
    )
    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP_SERVERS"
    )
    topic_prefix: str = "putright"
    consumer_max_attempts: int = Field(default=5, ge=1)
    consumer_retry_backoff_seconds: float = Field(default=0.2, ge=0)
    outbox_poll_seconds: float = Field(default=0.5, gt=0)
    outbox_batch_size: int = Field(default=500, ge=1)

    @property
    def topics(self) -> Topics:
        """Topic names for this deployment."""
        return Topics(self.topic_prefix)
