"""A STAC API upstream emulator: ESA MAAP-shaped (STAC 1.1, OIDC data) or Planetary
Computer-shaped (STAC 1.0, filter/sort, SAS blobs)."""

from stacbridge.sandbox.stac.app import create_stac_app
from stacbridge.sandbox.stac.upstreams import StacUpstreams

__all__ = ["StacUpstreams", "create_stac_app"]
