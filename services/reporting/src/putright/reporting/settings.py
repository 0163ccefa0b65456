"""Reporting's configuration, from the environment."""

from enum import StrEnum

from pydantic import Field

from putright.shared.settings import ServiceSettings


class ExtensionRule(StrEnum):
    """Which notified extensions the extension-accepting CH02 figure accepts.

    TSM.md: how an extension counts is configuration, not code.
    """

    # The extension stays within the Code's limit (10 working days at stage 1,
    # 20 at stage 2) and was notified before the response was due.
    WITHIN_CODE_LIMIT = "within_code_limit"
    # As above, or beyond the limit with a good reason recorded (6.4, 6.15).
    WITHIN_LIMIT_OR_GOOD_REASON = "within_limit_or_good_reason"
    # Any extension the resident was told about, however long or late.
    ANY_NOTIFIED = "any_notified"


class ReportingSettings(ServiceSettings):
    """Settings of the reporting service."""

    extension_rule: ExtensionRule = ExtensionRule.WITHIN_LIMIT_OR_GOOD_REASON
    due_soon_working_days: int = Field(default=2, ge=0)
    # A local target for the timeliness chart; the Code expects every step on time.
    timeliness_target_percent: float = Field(default=95.0, ge=0, le=100)
    rebuild_batch_size: int = Field(default=5000, ge=1)
