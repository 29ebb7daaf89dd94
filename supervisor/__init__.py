"""heatkeeper.supervisor: many stations: MQTT ingest, storage, web dashboard, remote commands, reports.

The ingest's per-message modules are Cython-compiled (setup.py's CYTHON_MODULES)."""

from heatkeeper.core import _cext

# first: HEATKEEPER_DISABLE_CEXT=1 must also load the compiled supervisor modules from their .py source
_cext.register_pure_package(__name__ + ".")
