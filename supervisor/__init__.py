"""heatkeeper.supervisor: many stations: MQTT ingest, storage, web dashboard, remote commands, reports."""
