"""Settings come from the environment, including how to reach a secured Kafka."""

from __future__ import annotations

import pytest
from faststream.security import SASLScram512

from putright.shared.settings import ServiceSettings


def test_plaintext_kafka_needs_no_security() -> None:
    assert ServiceSettings().kafka_security() is None


def test_sasl_ssl_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUTRIGHT_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("PUTRIGHT_KAFKA_SASL_USERNAME", "putright-intake")
    monkeypatch.setenv("PUTRIGHT_KAFKA_SASL_PASSWORD", "s3cret")
    security = ServiceSettings().kafka_security()
    assert isinstance(security, SASLScram512)
    assert security.username == "putright-intake"
    assert security.use_ssl


def test_sasl_without_credentials_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUTRIGHT_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    with pytest.raises(ValueError, match="PUTRIGHT_KAFKA_SASL_USERNAME"):
        ServiceSettings().kafka_security()
