"""Settings that decide how replicas coexist: the MQTT client id."""

from __future__ import annotations

from pa_server.config import Settings


def test_mqtt_client_id_is_per_replica_and_stable() -> None:
    one, two = Settings(port=8001), Settings(port=8002)
    # Two replicas on one host (they cannot share a port) never share a broker session...
    assert one.resolved_mqtt_client_id != two.resolved_mqtt_client_id
    # ...and one replica restarted keeps its id, so its persistent session survives.
    assert Settings(port=8001).resolved_mqtt_client_id == one.resolved_mqtt_client_id
    assert Settings(port=8001, mqtt_client_id="pa-a").resolved_mqtt_client_id == "pa-a"
