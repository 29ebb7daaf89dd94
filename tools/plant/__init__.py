"""heatkeeper.tools.plant: the reference substation model and its weather.

`Plant(params=None, weather=None, seed=0)` is the plant the Modbus simulators, the HIL rig
and the season benchmark run against (plant.py); `weather` reads EPW files and makes
deterministic synthetic years per city. The hot module (model) is Cython-compiled.
"""

from heatkeeper.core import _cext

# first: HEATKEEPER_DISABLE_CEXT=1 must also load model and local_control from their .py source
_cext.register_pure_package(__name__ + ".")

from .plant import FAULTS, Plant, default_weather  # noqa: E402 - after the registration above
from .weather import CITIES, Weather, read_epw, synthetic_year  # noqa: E402

__all__ = ["CITIES", "FAULTS", "Plant", "Weather", "default_weather", "read_epw", "synthetic_year"]
