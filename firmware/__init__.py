"""heatkeeper.firmware: the station's edge runtime (Modbus RTU, MQTT uplink, persistence, watchdog)."""
