"""Smoke check of a Kafka broker with the project's Python client (aiokafka).

Used to choose the pinned Kafka version (see KAFKA_VERSION.md) and to verify a
running local broker. Exercises exactly the client features the services rely
on: admin topic creation, idempotent acks=all producing with headers, consumer
groups with manual commits, and reading committed offsets back.

    python deploy/local/kafka_smoke.py [--bootstrap HOST:PORT] full
    python deploy/local/kafka_smoke.py produce TOPIC N
    python deploy/local/kafka_smoke.py consume TOPIC GROUP N   # commits, prints values

Exit code 0 on success; prints one line per step.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic


def step(msg: str) -> None:
    print(f"ok: {msg}", flush=True)


async def produce(bootstrap: str, topic: str, n: int, tag: str = "") -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for i in range(n):
            await producer.send_and_wait(
                topic,
                value=f"{tag}msg-{i}".encode(),
                key=f"key-{i % 4}".encode(),
                headers=[("idx", str(i).encode()), ("trace", b"smoke")],
            )
    finally:
        await producer.stop()


async def consume(bootstrap: str, topic: str, group: str, n: int, timeout: float = 30.0) -> list:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    got = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(got) < n and loop.time() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=n - len(got))
            for records in batches.values():
                got.extend(records)
        # Commit only what we processed (explicit offsets, not position()).
        offsets: dict = {}
        for rec in got:
            tp = TopicPartition(rec.topic, rec.partition)
            offsets[tp] = max(offsets.get(tp, 0), rec.offset + 1)
        if offsets:
            await consumer.commit(offsets)
            for tp, off in offsets.items():
                committed = await consumer.committed(tp)
                assert committed == off, f"committed {tp}={committed}, expected {off}"
    finally:
        await consumer.stop()
    return got


async def full(bootstrap: str) -> None:
    suffix = uuid.uuid4().hex[:8]
    topic = f"smoke-{suffix}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name=topic, num_partitions=3, replication_factor=1)])
        topics = await admin.list_topics()
        assert topic in topics, f"{topic} not in {topics}"
        step(f"admin created topic {topic} (3 partitions)")

        await produce(bootstrap, topic, 20)
        step("produced 20 records, acks=all, idempotent, with headers")

        group = f"smoke-group-{suffix}"
        got = await consume(bootstrap, topic, group, 20)
        assert len(got) == 20, f"consumed {len(got)}/20"
        for rec in got:
            hdrs = dict(rec.headers)
            assert hdrs["trace"] == b"smoke", hdrs
            assert rec.value == f"msg-{int(hdrs['idx'])}".encode(), (rec.value, hdrs)
        assert {r.partition for r in got} == {0, 1, 2}, "keys should spread over 3 partitions"
        step("consumed 20 records with group, headers intact, manual commit, committed() matches")

        offsets = await admin.list_consumer_group_offsets(group)
        total = sum(meta.offset for meta in offsets.values())
        assert total == 20, f"group offsets sum {total} != 20: {offsets}"
        step(f"admin list_consumer_group_offsets sum={total}")

        # A second consumer in the same group must resume after the commit.
        again = await consume(bootstrap, topic, group, 1, timeout=3.0)
        assert not again, f"re-read {len(again)} already committed records"
        step("same group resumes after committed offsets (nothing re-delivered)")

        # Auto-created topic (auto.create.topics.enable=true, num.partitions=3).
        auto_topic = f"smoke-auto-{suffix}"
        await produce(bootstrap, auto_topic, 1)
        desc = await admin.describe_topics([auto_topic])
        nparts = len(desc[0]["partitions"])
        assert nparts == 3, desc
        step(f"auto-created topic {auto_topic} has {nparts} partitions")

        await admin.delete_topics([topic, auto_topic])
        step("admin deleted topics")
    finally:
        await admin.close()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--bootstrap",
        default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
    )
    sub = ap.add_subparsers(dest="cmd")
    sub.add_parser("full")
    p = sub.add_parser("produce")
    p.add_argument("topic")
    p.add_argument("n", type=int)
    c = sub.add_parser("consume")
    c.add_argument("topic")
    c.add_argument("group")
    c.add_argument("n", type=int)
    args = ap.parse_args()

    if args.cmd in (None, "full"):
        asyncio.run(full(args.bootstrap))
    elif args.cmd == "produce":
        asyncio.run(produce(args.bootstrap, args.topic, args.n))
        step(f"produced {args.n} to {args.topic}")
    elif args.cmd == "consume":
        got = asyncio.run(consume(args.bootstrap, args.topic, args.group, args.n))
        for rec in got:
            print(f"{rec.partition}:{rec.offset} {rec.value.decode()}")
        step(f"consumed {len(got)} from {args.topic} as {args.group}")
        if len(got) < args.n:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
