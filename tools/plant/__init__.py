"""heatkeeper.tools.plant: the reference substation model and its weather.

`Plant(params=None, weather=None, seed=0)` is the plant the Modbus simulators, the HIL rig
and the season benchmark run against (plant.py); `weather` reads EPW files and makes
deterministic synthetic years per city. The hot module (model) is Cython-compiled.
"""

import heatkeeper.core  # noqa: F401 - first: installs the HEATKEEPER_DISABLE_CEXT import hook

from .plant import FAULTS, Plant, default_weather
from .weather import CITIES, Weather, read_epw, synthetic_year

__all__ = ["CITIES", "FAULTS", "Plant", "Weather", "default_weather", "read_epw", "synthetic_year"]
