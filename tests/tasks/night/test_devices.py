"""The night's look at its devices, on fake devices behind real gateways: each device's health
carries who holds its lease and the device's own state (the control room's device-health table
shows them, issue 21)."""

from __future__ import annotations

from tasks.controlroom.views import device_health_rows
from tasks.night.devices import NightDevices


def test_each_devices_health_names_its_lease_holder(fake_device, gateway_for, controller_for):
    mount = controller_for(gateway_for("mount", fake_device("mount")))
    dome = controller_for(gateway_for("dome", fake_device("dome")))
    camera = controller_for(gateway_for("camera_vis", fake_device("camera")))
    devices = NightDevices(mount=mount, cameras={"Visible camera": camera}, dome=dome)
    mount.claim("execute-night:block-1", "routine")
    camera.claim("manual-exposure:ops", "operator")

    health = {h.name: h for h in devices.view().health}

    assert health["mount"].lease_holder == "execute-night:block-1 (routine)"
    assert health["Visible camera"].lease_holder == "manual-exposure:ops (operator)"
    assert health["dome"].lease_holder == ""  # nobody holds it
    rows = {row["device"]: row for row in device_health_rows(health.values())}
    assert rows["mount"]["lease holder"] == "execute-night:block-1 (routine)"
    assert rows["dome"]["lease holder"] == ""
    assert all(row["condition"] == "ok" for row in rows.values()), rows
    # Each device's own state, as its STATUS said it (the fakes start idle, closed).
    assert rows["mount"]["state"] == "idle"
    assert rows["dome"]["state"] == "closed (0 %)"
    assert rows["camera_vis"]["state"] == "idle, filter Clear"


def test_the_state_words_follow_what_the_devices_report(fake_device, gateway_for, controller_for):
    fake_mount = fake_device("mount", move_s=0.0)
    mount = controller_for(gateway_for("mount", fake_mount))
    dome = controller_for(gateway_for("dome", fake_device("dome")))
    camera = controller_for(gateway_for("camera_vis", fake_device("camera")))
    devices = NightDevices(mount=mount, cameras={"Visible camera": camera}, dome=dome)
    fake_mount.state.update(state="tracking", ra_deg=83.6331, dec_deg=22.0145, tracking=True)

    health = {h.name: h for h in devices.view().health}

    assert health["mount"].state == "tracking at RA 83.633°, Dec +22.015°"


def test_the_view_names_an_alert_holder_of_the_mount_only(fake_device, gateway_for, controller_for):
    """#18: the night waits while the mount's lease is held at alert priority (the reflex, the
    follow-up flow); a routine or operator holder is not an alert."""
    gateway = gateway_for("mount", fake_device("mount"))
    mount, alert_mount = controller_for(gateway), controller_for(gateway)
    dome = controller_for(gateway_for("dome", fake_device("dome")))
    camera = controller_for(gateway_for("camera_vis", fake_device("camera")))
    devices = NightDevices(mount=mount, cameras={"Visible camera": camera}, dome=dome)
    assert devices.view().alert_holder == ""
    camera.claim("alert:swift-1", "alert")  # a camera alone does not hold the telescope
    mount.claim("execute-night:block-1", "routine")
    assert devices.view().alert_holder == ""
    lease = alert_mount.claim("alert:swift-1", "alert")
    assert devices.view().alert_holder == "alert:swift-1"
    lease.release()
    assert devices.view().alert_holder == ""
