"""The GCN Kafka road: consume the configured topics with ``gcn-kafka``, committing each offset only
after the message is durable in the spool.

At-least-once: ``enable.auto.commit`` is off; a message is spooled (key
``kafka:<topic>:<partition>:<offset>``), then its offset is committed synchronously. A listener
killed between the two gets the message again from its group's last committed offset; the key
shows it was already spooled, so it is only committed then. Credentials for GCN's brokers come
from the environment (``GCN_KAFKA_CLIENT_ID``, ``GCN_KAFKA_CLIENT_SECRET``), never from the site
file; a local broker (the simulated stack, tests) needs none.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from infra.config_intake import KAFKA_CLIENT_ID_ENV, KAFKA_CLIENT_SECRET_ENV, KafkaIntake

log = logging.getLogger(__name__)

Receive = Callable[[bytes, str, str], object]
Kill = Callable[[str], None]


def consumer_config(kafka: KafkaIntake, environ: dict[str, str] | None = None) -> dict[str, Any]:
    """The ``gcn_kafka.Consumer`` settings for this site (secrets from the environment).

    Raises
    ------
    ValueError
        When GCN's brokers are configured and the credentials are not in the environment.
    """
    env = environ if environ is not None else dict(os.environ)
    config: dict[str, Any] = {
        "group.id": kafka.group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": kafka.session_timeout_ms,
        "heartbeat.interval.ms": kafka.heartbeat_interval_ms,
        "fetch.wait.max.ms": kafka.fetch_wait_max_ms,
        # A topic created after the subscription is seen within seconds, not librdkafka's 5 min.
        "topic.metadata.refresh.interval.ms": 2000,
    }
    bootstrap = kafka.bootstrap()
    if kafka.local_broker or (bootstrap and not env.get(KAFKA_CLIENT_ID_ENV)):
        # A broker on this machine or the site's own: plain text, no OAuth (gcn-kafka switches
        # OAuth on only when a client id is given).
        config.update({"bootstrap.servers": bootstrap, "security.protocol": "plaintext"})
        return config
    client_id, secret = env.get(KAFKA_CLIENT_ID_ENV), env.get(KAFKA_CLIENT_SECRET_ENV)
    if not client_id or not secret:
        raise ValueError(
            f"GCN Kafka needs {KAFKA_CLIENT_ID_ENV} and {KAFKA_CLIENT_SECRET_ENV} in the "
            "environment (or [alert_intake.kafka] local_broker = true)"
        )
    config.update({"client_id": client_id, "client_secret": secret})
    if bootstrap:
        config["bootstrap.servers"] = bootstrap
    return config


class KafkaRoad:
    """Consume topics on a thread; each message goes to ``receive(value, "kafka", key)``.

    Parameters
    ----------
    kafka : KafkaIntake
        Topics and consumer settings.
    receive : callable
        The listener's ``receive`` (returns None for a delivery already spooled).
    kill : callable
        The crash tests' switch (``before-commit``).
    """

    def __init__(self, kafka: KafkaIntake, receive: Receive, kill: Kill) -> None:
        self.kafka = kafka
        self._receive = receive
        self._kill = kill
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kafka-consumer", daemon=True)
        self.assigned = False
        self.consumed = 0
        self.last_error = ""

    def start(self) -> KafkaRoad:
        """Start consuming."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop consuming and leave the group."""
        self._stop.set()
        self._thread.join(10.0)

    def _run(self) -> None:
        from gcn_kafka import Consumer  # import time: librdkafka only when Kafka is configured

        config = consumer_config(self.kafka)
        settings = {k: v for k, v in config.items() if k not in ("client_id", "client_secret")}
        if self.kafka.local_broker:
            create_topics(settings["bootstrap.servers"], self.kafka.topics)
        consumer = Consumer(
            config=settings,
            client_id=config.get("client_id"),
            client_secret=config.get("client_secret"),
        )
        consumer.subscribe(
            list(self.kafka.topics), on_assign=lambda *_: setattr(self, "assigned", True)
        )
        try:
            while not self._stop.is_set():
                message = consumer.poll(0.2)
                if message is None:
                    continue
                if message.error():
                    self.last_error = str(message.error())
                    log.warning("Kafka: %s", self.last_error)
                    continue
                self._take(consumer, message)
        finally:
            consumer.close()

    def _take(self, consumer: Any, message: Any) -> None:
        key = f"kafka:{message.topic()}:{message.partition()}:{message.offset()}"
        value = message.value() or b""
        while not self._stop.is_set():
            try:
                self._receive(bytes(value), "kafka", key)
                break
            except OSError:  # the disk refused: not durable, so not committed; try again
                log.exception("Kafka message %s not spooled; retrying", key)
                self._stop.wait(1.0)
        else:
            return
        self.consumed += 1
        self._kill("before-commit")
        try:
            consumer.commit(message=message, asynchronous=False)
        except Exception as exc:  # redelivered later, recognised by its key
            self.last_error = f"commit {key}: {exc}"
            log.warning("Kafka: %s", self.last_error)


def create_topics(bootstrap: str, topics: list[str], timeout_s: float = 10.0) -> None:
    """Create ``topics`` on a local broker (one that stands in for GCN's starts empty); topics
    that exist already, or a broker that does not answer, are only logged."""
    # import time: as above
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    admin = AdminClient({"bootstrap.servers": bootstrap, "security.protocol": "plaintext"})
    futures = admin.create_topics([NewTopic(t, num_partitions=1) for t in topics])
    for topic, future in futures.items():
        try:
            future.result(timeout=timeout_s)
        except Exception as exc:  # TOPIC_ALREADY_EXISTS after a restart
            log.debug("Kafka topic %s not created: %s", topic, exc)


def produce(kafka: KafkaIntake, topic: str, raw: bytes, timeout_s: float = 10.0) -> None:
    """Publish one packet to ``topic`` and wait until the broker has it (drills, tests).

    Raises
    ------
    RuntimeError
        When the broker did not acknowledge it within ``timeout_s``.
    """
    from gcn_kafka import Producer  # import time: librdkafka only when Kafka is used

    config = consumer_config(kafka)
    settings = {k: v for k, v in config.items() if k in ("bootstrap.servers", "security.protocol")}
    producer = Producer(
        config={**settings, "linger.ms": 0},
        client_id=config.get("client_id"),
        client_secret=config.get("client_secret"),
    )
    errors: list[str] = []
    producer.produce(
        topic, raw, on_delivery=lambda err, _msg: errors.append(str(err)) if err else None
    )
    left = producer.flush(timeout_s)
    if left or errors:
        where = config.get("bootstrap.servers", "GCN")
        reason = errors[0] if errors else f"no acknowledgement within {timeout_s:g} s"
        raise RuntimeError(f"Kafka broker {where}, topic {topic}: {reason}")
