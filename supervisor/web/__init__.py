"""The supervisor's web dashboard and JSON API (aiohttp), served offline from this package.

`create_app(service, config)` builds the aiohttp application; everything it serves (pages,
scripts, styles, message catalogues) lives beside this file, so no internet is needed.
"""

from .app import create_app

__all__ = ["create_app"]
