"""What the test folders and the benchmarks share to run the real thing on one machine.

`mosquitto` (a throw-away Mosquitto broker), `postgres` (a throw-away PostgreSQL cluster),
`mqtt_listener` (a supervisor-like MQTT listener and `wait_until`), `pki` (a throw-away CA and
server certificate). Processes and ports come from `heatkeeper.tools.procs`.

Only tests and benchmarks import this package: core, firmware and supervisor never do, so none
of it is loaded by a station or a supervisor in service.
"""
