"""Deadlines's configuration, from the environment."""

from pydantic import Field

from putright.shared.settings import ServiceSettings


class DeadlinesSettings(ServiceSettings):
    """Settings of the deadlines service."""

    approaching_working_days: int = Field(
        default=2, ge=1, description="Warn this many working days before a step is due."
    )
    timers_enabled: bool = Field(
        default=True, description="Off while a replay catches up, so no stale step is missed."
    )
    timer_batch_size: int = Field(default=500, ge=1)
    timer_poll_seconds: float = Field(default=1.0, gt=0)
    instance: str = Field(
        default="deadlines",
        pattern=r"^[a-z][a-z0-9_]{0,40}$",
        description="Schema and consumer group; another value rebuilds clocks by replay.",
    )
