"""``pyros up`` plans the simulators (unless real devices are configured) then the gateways, each
ready when all its ports accept connections; ``[simulators]`` is validated."""

from __future__ import annotations

import tomllib

import pytest

from app.stack import plan_stack
from app.supervisor.spec import ProcessSpec, Readiness
from infra.config import DEFAULT_CONFIG_PATH, ConfigError, parse_config
from infra.settings import load_settings
from tests.support.ports import free_port


def _config(**simulators):
    data = tomllib.loads(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    data["simulators"].update(simulators)
    return data


def test_simulators_then_gateways_then_the_monitor_then_prefect():
    plan = plan_stack(load_settings(), parse_config(_config()))
    names = [spec.name for spec in plan.specs]
    assert names[:7] == [
        "simulators",
        "gateways",
        "environment-monitor",
        "comet-broker",
        "kafka-broker",
        "alert-listener",
        "prefect-server",
    ]
    assert plan.specs[2].argv[-2:] == ["monitor", "run"] and plan.specs[2].restart
    simulators, gateways = plan.specs[0], plan.specs[1]
    assert simulators.argv[-2:] == ["simulators", "start"]
    assert simulators.ready.tcp_ports == (5000, 5001, 5002, 5003, 5004)
    assert gateways.argv[-2:] == ["gateways", "start"]
    assert gateways.ready.tcp_ports == (5100, 5101, 5102, 5103, 5104)
    assert plan.ports["simulator plc"] == 5003 and plan.ports["gateway dome"] == 5104


def test_a_configured_scenario_is_played_by_the_simulators(tmp_path):
    scenario = tmp_path / "night.json"
    plan = plan_stack(load_settings(), parse_config(_config(scenario=str(scenario))))
    assert plan.specs[0].argv[-2:] == ["--scenario", str(scenario.resolve())]


def test_real_devices_mean_no_simulators():
    data = _config(enabled=False)
    data["devices"]["mount"]["host"] = "10.0.0.5"
    plan = plan_stack(load_settings(), parse_config(data))
    names = [s.name for s in plan.specs]
    assert names[:3] == ["gateways", "environment-monitor", "comet-broker"]
    assert not any(name.startswith("simulator ") for name in plan.ports)


def test_simulators_refuse_a_remote_device_endpoint():
    data = _config()
    data["devices"]["dome"]["host"] = "192.0.2.7"
    with pytest.raises(ConfigError) as error:
        parse_config(data, "site.toml")
    assert "simulators.enabled: devices.dome.host is '192.0.2.7'" in str(error.value)
    assert "enabled = false" in str(error.value)


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("alert_broker_port", 0, "alert_broker_port"),
        ("max_concurrent_submissions", 0, "max_concurrent_submissions"),
        ("interlock_rain_rate_mm_h", -1, "interlock_rain_rate_mm_h"),
        ("enable", True, "simulators.enable: unknown key"),
    ],
)
def test_bad_simulator_settings_are_named(key, value, words):
    with pytest.raises(ConfigError, match=words):
        parse_config(_config(**{key: value}), "site.toml")


def test_readiness_waits_for_every_port_and_survives_the_stack_file():
    import socket

    with socket.create_server(("127.0.0.1", 0)) as one:
        open_port = one.getsockname()[1]
        closed_port = free_port()
        assert Readiness(tcp_ports=(open_port,)).check()
        assert not Readiness(tcp_ports=(open_port, closed_port)).check()
    spec = ProcessSpec("x", ["true"], ready=Readiness(tcp_ports=(1, 2)))
    assert ProcessSpec.from_dict(spec.to_dict()) == spec


def test_the_alert_intake_runs_comet_tansu_and_the_listener():
    plan = plan_stack(load_settings(), parse_config(_config()))
    specs = {s.name: s for s in plan.specs}
    comet = specs["comet-broker"].argv
    # twistd with Comet's listeners on the configured host (loopback): app/comet_broker.py.
    assert comet[1:4] == ["-m", "app.comet_broker", "127.0.0.1"]
    assert comet[4:6] == ["-n", "--pidfile"] and "comet" in comet and "--save-event" in comet
    assert comet[comet.index("--author-whitelist") + 1] == "127.0.0.1/32"
    assert comet[comet.index("--broadcast-test-interval") + 1] == "0"
    assert specs["comet-broker"].ready.tcp_ports == (8098, 8099)
    assert specs["kafka-broker"].argv[1] == "broker"
    assert "memory://tansu/" in specs["kafka-broker"].argv
    assert specs["alert-listener"].argv[-2:] == ["alert", "listen"]
    assert specs["alert-listener"].restart
    assert plan.ports["kafka broker"] == 19092


def _prefect_server(data) -> ProcessSpec:
    plan = plan_stack(load_settings(), parse_config(data, "site.toml"))
    return next(spec for spec in plan.specs if spec.name == "prefect-server")


def test_the_prefect_server_listens_on_loopback_unless_configured():
    server = _prefect_server(_config())
    assert server.argv[-4:] == ["--host", "127.0.0.1", "--port", "4200"]
    assert server.ready.http_url == "http://127.0.0.1:4200/api/health"
    assert server.env["PREFECT_API_URL"] == "http://127.0.0.1:4200/api"
    assert server.env["PREFECT_UI_API_URL"] == "http://127.0.0.1:4200/api"
    # A block waiting for the telescope slot asks again within a second (not up to 30 s).
    assert server.env["PREFECT_SERVER_CONCURRENCY_MAXIMUM_CONCURRENCY_SLOT_WAIT_SECONDS"] == "1"


@pytest.mark.parametrize(
    ("host", "reached_at"), [("0.0.0.0", "127.0.0.1"), ("192.0.2.10", "192.0.2.10")]
)
def test_a_prefect_server_address_listed_in_bind_hosts_is_used(host, reached_at):
    data = _config()
    data.setdefault("stack", {})["prefect_host"] = host
    data.setdefault("security", {})["bind_hosts"] = [host]
    server = _prefect_server(data)
    assert server.argv[-4:] == ["--host", host, "--port", "4200"]
    # Our own processes reach it on loopback when it listens everywhere, else at its address.
    assert server.ready.http_url == f"http://{reached_at}:4200/api/health"
    assert server.env["PREFECT_API_URL"] == f"http://{reached_at}:4200/api"
    # A browser elsewhere finds the API where it loaded the UI from.
    assert server.env["PREFECT_UI_API_URL"] == "/api"


def test_a_prefect_server_address_not_in_bind_hosts_is_refused_by_name():
    data = _config()
    data.setdefault("stack", {})["prefect_host"] = "0.0.0.0"
    with pytest.raises(ConfigError, match=r"stack.prefect_host: '0.0.0.0' is not a loopback"):
        parse_config(data, "site.toml")
