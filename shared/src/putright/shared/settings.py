"""Configuration every service shares, read from the environment by pydantic-settings."""

from __future__ import annotations

import ssl
from typing import Literal

from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from pydantic import Field, SecretStr
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
    consumer_batch_size: int = Field(default=200, ge=1)
    # How long the broker may hold a fetch to fill it: fewer, fuller batches under load
    # (cheaper per event for the consumer and the broker) at up to this much latency.
    consumer_fetch_wait_ms: int = Field(default=50, ge=0)
    consumer_fetch_min_bytes: int = Field(default=65536, ge=1)
    consumer_retry_backoff_seconds: float = Field(default=0.2, ge=0)
    outbox_poll_seconds: float = Field(default=0.5, gt=0)
    outbox_batch_size: int = Field(default=500, ge=1)

    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: str | None = None

    def kafka_security(self) -> BaseSecurity | None:
        """FastStream's security settings for the configured Kafka protocol, if any."""
        if self.kafka_security_protocol == "PLAINTEXT":
            return None
        tls = ssl.create_default_context(cafile=self.kafka_ssl_cafile)
        if self.kafka_security_protocol == "SSL":
            return BaseSecurity(ssl_context=tls, use_ssl=True)
        if not (self.kafka_sasl_username and self.kafka_sasl_password):
            raise ValueError("SASL_SSL needs PUTRIGHT_KAFKA_SASL_USERNAME and _PASSWORD")
        password = self.kafka_sasl_password.get_secret_value()
        mechanisms: dict[str, type[SASLPlaintext | SASLScram256 | SASLScram512]] = {
            "PLAIN": SASLPlaintext,
            "SCRAM-SHA-256": SASLScram256,
            "SCRAM-SHA-512": SASLScram512,
        }
        return mechanisms[self.kafka_sasl_mechanism](
            username=self.kafka_sasl_username, password=password, ssl_context=tls, use_ssl=True
        )

    @property
    def topics(self) -> Topics:
        """Topic names for this deployment."""
        return Topics(self.topic_prefix)
