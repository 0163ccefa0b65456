"""Kafka wiring shared by the services: the broker and idempotent subscriptions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from aiokafka import TopicPartition
from faststream import AckPolicy, Context
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.security import BaseSecurity

from putright.shared.consumer import Consumer, Origin
from putright.shared.observability import CONSUMER_LAG


def create_broker(
    bootstrap_servers: str, *, client_id: str, security: BaseSecurity | None = None
) -> KafkaBroker:
    """A broker whose producer waits for every in-sync replica and never duplicates on retry."""
    return KafkaBroker(
        bootstrap_servers,
        client_id=client_id,
        security=security,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
    )


# The aiokafka consumer behind a subscription; absent on the embedded in-memory broker.
KafkaConsumer = Annotated[Any, Context("handler_.consumer", default=None)]


def record_lag(name: str, kafka: Any, batch: Sequence[Any]) -> None:
    """How far behind the partitions' ends the consumer is, after this batch."""
    last_offsets = {(record.topic, record.partition): record.offset for record in batch}
    for (topic, partition), offset in last_offsets.items():
        highwater = kafka.highwater(TopicPartition(topic, partition)) if kafka else None
        if highwater is not None:
            CONSUMER_LAG.labels(name, topic, partition).set(max(highwater - offset - 1, 0))


def subscribe(
    broker: KafkaBroker,
    consumer: Consumer,
    *topics: str,
    description: str,
    batch_size: int = 200,
    fetch_wait_ms: int = 500,
    fetch_min_bytes: int = 1,
) -> None:
    """Feed `topics` to `consumer` in its own consumer group, in batches of up to
    `batch_size`, committing offsets only after the consumer's database transaction
    (a failure to do so redelivers)."""

    async def handle(message: KafkaMessage, kafka: KafkaConsumer) -> None:
        records = message.raw_message
        batch = records if isinstance(records, (tuple, list)) else (records,)
        record_lag(consumer.name, kafka, batch)
        await consumer.process_batch(
            [
                (
                    record.value,
                    Origin(
                        topic=record.topic,
                        partition=record.partition,
                        offset=record.offset,
                        key=record.key,
                        headers=tuple(record.headers),
                    ),
                )
                for record in batch
            ]
        )

    handle.__name__ = f"{consumer.name}_consumer"
    broker.subscriber(
        *topics,
        group_id=consumer.name,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        batch=True,
        max_records=batch_size,
        fetch_max_wait_ms=fetch_wait_ms,
        fetch_min_bytes=fetch_min_bytes,
        auto_offset_reset="earliest",
        title=consumer.name,
        description=description,
    )(handle)
