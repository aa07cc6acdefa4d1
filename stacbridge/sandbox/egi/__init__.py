"""An EGI (NSIDC's ESI programmatic-access) emulator — every body it sends is **synthetic**.

No complete real EGI response was recorded (`fixtures/egi/SOURCES.md` in the steering repo):
this emulator follows the documented protocol and the element names of the recorded fragments.

* `GET|HEAD /egi/request` — CMR parameters (`short_name`, `version`, `bounding_box`, `temporal`,
  `producer_granule_id`, `page_size`, `page_num`) choose granules, resolved against the CMR
  emulator (`granules.json`, whose `boxes`/`polygons` give each granule's footprint); EGI's own
  (`bbox`, `time`, `Coverage`, `format`, `projection`, `request_mode` stream|sync|async,
  `agent=NO`, `token`, `email`, `client_string`, `include_meta`) say what to do.  Any other
  parameter, or a value outside what the collection offers, is refused with an XML error
  naming the allowed values.  `stream` (default) → 200 `application/zip` with
  `Content-Disposition`; `sync` → 200 `eesi:agentResponse` (complete, `downloadUrls`);
  `async` → 201 `eesi:agentResponse` (`pending`).  No processing asked (`agent=NO`, or no
  subset/format) → 303 to the granule's data file as CMR lists it.
* `GET /egi/request/{orderId}` — the order's status, 201 as recorded: `pending` →
  `processing` for `POLLS_TO_FINISH` polls → `complete` (or `complete_with_errors` /
  `failed`, as queued with `POST /_sandbox/egi {"status", "message"}`), with
  `downloadUrls/downloadUrl` = `/esir/{orderId}.zip` and `.html` once done.
* `GET /esir/{orderId}.zip` — the result zip; `GET /egi/capabilities/<short>.<version>.xml`.
* Auth: an Earthdata Login token in the `token` parameter or `Authorization: Bearer`, checked
  at the EDL emulator on every request (expired → 401).  EDL's cookie redirect flow is not
  emulated here.

What the files hold and which formats exist: :mod:`.rasters` (real GeoTIFF and NetCDF4-CF,
really clipped).  **Guesses** (no recording): the error body (`eesi:Exception` with `Code` and
`Message`) and its statuses (400 for refused parameters and no matching data, 401 without a
valid token, 404 for an unknown order), 200 for sync answers, the capabilities document's
element names, the result file names (`processed_<granule>.<ext>`), the status sequence's
length, and the 100-granule limit of stream/sync requests.
"""

from __future__ import annotations

from stacbridge.sandbox.egi.app import COLLECTIONS, EgiState, create_egi_app, parse_request

__all__ = ["COLLECTIONS", "EgiState", "create_egi_app", "parse_request"]
