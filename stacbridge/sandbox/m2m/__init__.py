"""A faithful USGS EarthExplorer Machine-to-Machine (M2M) JSON API emulator for the sandbox.

``create_m2m_app()`` returns a Starlette ASGI app. The API lives under
``/api/api/json/stable/<endpoint>`` (so a client's base URL is
``http://127.0.0.1:PORT/api/api/json/stable/``); every endpoint takes a JSON body (``POST``, and
``GET`` with a body as ``landsatxplore`` sends it; the body is parsed whatever the
``Content-Type``, as ``usgs`` posts a bare JSON string) and answers M2M's envelope
``{"requestId", "version": "stable", "sessionId", "data", "errorCode", "errorMessage"}``,
serialised with orjson. Recorded bodies are ``fixtures/m2m/`` (see its ``SOURCES.md``).

Endpoints
---------
* ``login-token`` ``{"username", "token"}`` → ``data`` = API key (``users`` maps usernames to
  application tokens). Every other endpoint needs ``X-Auth-Token``: missing →
  ``AUTH_UNAUTHROIZED`` (M2M's spelling), unknown or logged out → ``AUTH_INVALID``, idle longer
  than ``key_idle_ttl`` by the clock → ``AUTH_EXPIRED`` "API key has expired due to
  inactivity" in the recorded error envelope (``requestId: 0``, ``sessionId``/``version``
  ``null``). Each successful call restarts the idle timer (the reference: "active for two hours,
  which is restarted after each subsequent request"). ``logout`` → ``data: null``, key dropped.
  A ``login-token`` sent *with* a stale ``X-Auth-Token`` header fails with that key's error
  (kapadia/usgs issues #59 and #68 show exactly this happening to clients that cached keys).
* ``dataset-search`` (``datasetName``: case-insensitive substring of the alias or collection
  names, as the reference's "wildcards inserted at the beginning and the end"; ``catalog``) →
  the 9 recorded entries of the SUBSET fixture, byte-for-byte. ``dataset`` → one of them.
* ``dataset-filters`` → ``landsat_8_c1``: the recorded 14 filters verbatim;
  ``landsat_ot_c2_l1``/``_l2``: the same 14 rewritten with Collection 2 names (Landsat Product
  Identifier L1/L2, Scene Cloud Cover L1, Data Type L1/L2 (L2: ``DATA_TYPE_L2 = ?``, values
  L2SP/L2SR), Sun Elevation L0RA, Date Product Generated L1/L2, Geometric RMSE Model, Landsat
  Scene Identifier), ids hashed from the dataset id, ``legacyFieldId: null``, links to the
  Collection 2 data dictionary; everything else (``fieldConfig``, ``valueList``) as recorded.
  ``dataset-download-options`` → recorded for ``landsat_8_c1``, derived for Collection 2.
* ``scene-search`` — see below. ``scene-metadata`` ``{"datasetName", "entityId", "idType",
  "metadataType"}`` (default ``full``) → the recorded body for ``LC82260782020217LGN00``,
  generated scenes rendered in the same shape.
* ``download-options`` ``{"datasetName", "entityIds": [...] | "a,b"}`` → a flat product list:
  recorded for ``LC82260782020217LGN00``; for Collection 2 scenes, as the current reference's
  sample shapes them: a ``Landsat Collection 2 Level-N Product Bundle`` (``downloadSystem:
  "dds"``, ``filesize``, ``secondaryDownloads: []``) and a ``Landsat Collection 2 Level-N Band
  File`` folder product (``downloadSystem: "folder"``, ``filesize: 0``, ``downloadName``
  ``C2LN Tile Product Files``) whose ``secondaryDownloads`` are the files — ``{id, downloadName:
  "SR_B4.TIF", displayId: "<displayId>_SR_B4.TIF", entityId: "L2SR_<displayId>_SR_B4_TIF",
  datasetId, available, filesize, productName, productCode, bulkAvailable, downloadSystem:
  "dds", secondaryDownloads: [], displayOrder}`` (+ ``fileGroups`` with
  ``includeSecondaryFileGroups``). A secondary's ``id`` is one per file kind and dataset (the
  reference's ``dataset-file-groups`` maps ``ANG.txt`` to one product id), so download-request
  names a file by its own ``entityId`` plus that id (the scene's ``entityId`` works too).
* ``download-request`` ``{"downloads": [{"entityId", "productId", "label"?}], "label"?}`` →
  ``availableDownloads`` / ``preparingDownloads`` (``{downloadId, eulaCode, entityId, url}``),
  ``newRecords`` and ``duplicateProducts`` (``{downloadId: label}``; an empty one is ``[]``, as
  PHP encodes it and as recorded), ``failed`` (``{entityId, productId, errorMessage}``),
  ``numInvalidScenes``, ``remainingLimits`` (the reference's shape: one ``limitType: "user"`` and
  one ``"ip"`` entry counting down from 15000 recent / 20000 pending / 20000 unattempted). The
  label defaults to ``m2m_<requestId>_<YYYYMMDDHHMMSS>`` as recorded; labels over 50 characters
  are refused (observed live by a third-party client). **Preparing**: bundles (and the recorded
  ``Level-1 GeoTIFF Data Product``) of scenes whose index is divisible by 3 — for
  ``landsat_8_c1`` that is ``LC82260782020217LGN00``, which the recording shows preparing; band
  files and LandsatLook images are available at once. A repeated request for a product the user
  already queued lands in ``duplicateProducts`` and, by its current state, in available/preparing.
* ``download-retrieve`` ``{"label"?}`` → ``available`` (the recorded shape: downloadId,
  collectionName, datasetId, displayId, entityId, eulaCode, filesize, label, productCode,
  productName, statusCode ``"A"``, statusText ``"Available"``, url), ``requested`` (same shape,
  statusCode ``"S"``/``"Staging"``, url = the ``download-staging`` link), ``eulas: []``,
  ``queueSize`` (number still staging). A preparing download is listed under ``available`` from
  the ``prepare_polls``-th retrieve that includes it (2: first under ``requested``, then
  ``available``; 0 or 1: at the first), or at once after ``POST /_sandbox/orders/ready``.
  ``download-search``, ``download-remove``, ``download-order-remove``, ``permissions`` and
  ``rate-limit-summary`` are served too.
* ``GET|HEAD /download/<token>``: the file, with Range/ETag/Last-Modified/conditionals through
  ``datahost.file_response``, ``Content-Disposition: attachment; filename="<name>"``. Tokens are
  DDS's: base64 of ``{"id":<downloadId>,"contactId":<contact>}`` (a re-issued URL adds
  ``"issue":n``); a URL expires ``url_lifespan`` seconds after it was handed out (→ 403 XML
  ``AccessDenied``/``Request has expired``; retrieve then hands out a fresh one); unknown → 404.
  Band ``.TIF`` files are ``files.CogFiles`` COGs georeferenced on the scene's MGRS tile, padded
  with zeros to the advertised ``filesize`` (a TIFF ignores trailing bytes; nothing is built for a
  ``HEAD``/``stat`` but the small COG); ``.txt/.xml/.json`` are ``CogFiles`` files whose real
  size is advertised; a Collection 2 product bundle (``<displayId>.tar``) is a real ustar archive
  of the scene's band files, in the folder product's order, under their own displayIds,
  streamed member by member with Range support (``downloads._TarFiles``) — its ``filesize`` in
  download-options/-retrieve is the archive's exact size; the recorded ``landsat_8_c1``
  ``.tar.gz`` bundles are still ``SyntheticFiles`` bytes of the recorded ``filesize`` (not an
  archive: left alone).
  ``/download-staging/<token>``: 202 while staging, then 302 to the download URL.
  ``GET /gen-browse?size&type&product_id``: a small JPEG, for ``landsatlook_url="self"``.

scene-search
------------
``{"datasetName", "maxResults" (default 100), "startingNumber" (1-based), "metadataType"
("summary" | "full"), "sceneFilter": {"spatialFilter", "acquisitionFilter", "cloudCoverFilter",
"metadataFilter", "seasonalFilter"}, "sortDirection"}`` → ``{results, recordsReturned, totalHits,
totalHitsAccuracy, isCustomized: false, numExcluded: 0, startingNumber, nextRecord}``.

* Paging as recorded: ``nextRecord = min(startingNumber + recordsReturned, totalHits)`` — the
  reference's sample has 1/100/42989 → 101, the recording 1/1/1 → **1**: on the last page
  ``nextRecord`` equals ``totalHits`` (so ``nextRecord == totalHits`` does *not* mean "no more
  records" when exactly one is left). Past the end: no results, ``nextRecord = totalHits``.
* ``maxResults`` above 50,000 (the reference's "50,000 scene limit") or below 1 →
  ``INPUT_PARAMETER_INVALID``.
* ``totalHitsAccuracy``: ``"approximate"`` when there is no scene filter (the reference: such
  searches use "a cached scene count … instead of computing the actual row count"), otherwise
  ``"exact"``. The emulator's cached count is exact (nothing is ingested), so paging to
  ``totalHits`` always works; the recorded dataset ``sceneCount`` values are not that count.
* Spatial: ``mbr`` (``lowerLeft``/``upperRight``; west > east crosses 180) or ``geojson``
  (standard GeoJSON, or ``landsatxplore``'s ``{latitude, longitude}`` coordinate objects), matched
  against the footprint (``spatialCoverage``). Acquisition: date level only, as the reference
  says ("discarding any time information"), inclusive. Cloud cover: ``min``/``max`` percent,
  inclusive (every served scene has a known cloud cover, so ``includeUnknown`` changes nothing).
  ``seasonalFilter``: month numbers. Metadata: ``value`` / ``between`` / ``and`` / ``or`` on the
  dataset-filters ids, following each filter's ``searchSql`` (``like`` is case-insensitive and
  wraps a pattern without ``%`` in ``%…%``; ``<= ?`` compares less-or-equal; an ``operand``
  of ``like``/``=`` is honoured). Unknown filter id → ``INPUT_PARAMETER_INVALID``.
* Order: acquisition date ascending; ``sortDirection: "DESC"`` reverses. ``sortField`` is
  accepted and otherwise ignored. ``ingestFilter``, scene lists, customizations: ignored.
* Datasets: ``landsat_8_c1`` holds the two recorded scenes (``LC82330832016255LGN01`` from the
  scene-search recording, ``LC82260782020217LGN00`` from the scene-metadata recording; each
  rendered in the other shape by moving the recorded values — ``metadata`` stays ``[]`` for the
  first, whose full metadata was not recorded). ``landsat_ot_c2_l1``/``_l2`` hold
  ``generated_scenes`` scenes of :mod:`stacbridge.sandbox.m2m.generator` (filters run on index
  arithmetic; a metadata filter on a per-scene field such as Sun Elevation or a product id
  scans the candidates). The other 6 recorded datasets search empty; an unknown dataset →
  ``DATASET_INVALID``.

Guesses (no recording; kept here so they stay visible)
-----------------------------------------------------
* The generated Collection 2 population (ids, footprints, metadata values; see
  :mod:`.generator`) and the Collection 2 ``dataset-filters`` ids derived from a hash.
* A bundle's member names (``<displayId>_<file>``), order, ustar headers (mode 0644, owner
  ``root``, the band file's Last-Modified as mtime) and the 10240-byte record padding; the band
  file sizes and the padding of small COGs with zeros up to them.
* ``Content-Disposition`` and the DDS XML error bodies of ``/download`` (403 ``AccessDenied``,
  404 ``NotFound``); ``/download-staging`` answering 202 with ``Retry-After: 30``.
* Which products start "preparing" (index divisible by 3), and after how many retrieves they
  become available (``prepare_polls``).
* The ``remainingLimits`` counters' starting values, and every error message below that is not
  named as recorded.

HTTP statuses (none were recorded; the reference documents none)
-----------------------------------------------------------------
* 200 for every success, and for ``login-token`` with a wrong username/token
  (``AUTH_INVALID``): kapadia/usgs issue #54 (2021) shows the login failure arriving with 200.
* 500 for every other error envelope (auth errors, ``RATE_LIMIT``, input errors): a third-party
  client records ``RATE_LIMIT`` "Your account does not support multiple requests at a time"
  live as HTTP 500, Fergui/m2m-api issue #2 shows ``500 - VERSION_UNKNOWN``, and kapadia/usgs
  0.3.x only printed the raw AUTH_EXPIRED body of issue #59 for a non-200 status.
* 404 ``NOT_FOUND`` for an unknown endpoint (a guess).
Error messages other than AUTH_EXPIRED's, RATE_LIMIT's and AUTH_UNAUTHROIZED's ("Your account
does not have access to this endpoint", MrChebur/usgs-machine-to-machine-API issue #1) are guesses.

Sandbox controls (not M2M)
--------------------------
``POST /_sandbox/faults`` ``{"errorCode": "RATE_LIMIT", "count": 2, "endpoint": "scene-search"}``
(the M2M envelope, HTTP 500 unless ``"status"`` says otherwise), ``{"status": 503, "count": n}``
(an HTML error page, as a front-end proxy answers; ``"retry_after"`` adds the header) or
``{"delay": s, "count": n}`` or ``{"body": {...}, "endpoint": "scene-search"}`` (a crafted,
malformed answer sent verbatim — the whole envelope — with ``status`` or 200) — for the next
``count`` matching requests (``endpoint`` omitted:
any; ``"download"``: the file route), checked before authentication; ``GET`` lists, ``DELETE``
clears. ``GET /_sandbox/stats`` (``logins``, ``requests_by_endpoint``, ``downloads``,
``errors_by_code``, ``active_keys`` and the ``Recorder`` counters), ``GET /_sandbox/requests``
(the ``Recorder`` log plus ``endpoint``, ``body`` — with ``token``/``password`` replaced by
``"REDACTED"`` — ``errorCode`` and ``user``; the ``X-Auth-Token`` header value is replaced by
``"REDACTED"``), ``POST /_sandbox/clock {"advance": s}``, ``POST /_sandbox/reset`` (logs,
counters, faults, keys and downloads), ``POST /_sandbox/orders/ready``.

Layout
------
:mod:`.errors` (the envelope's codes and messages), :mod:`.fixtures` (recordings, verbatim),
:mod:`.filters` (``metadataFilter``), :mod:`.queries` (``sceneFilter``), :mod:`.products`,
:mod:`.datasets` (recorded, generated and empty datasets), :mod:`.generator` (the Collection 2
population), :mod:`.catalogue` (`M2MEmulator`, no HTTP), :mod:`.state` (sessions, downloads),
:mod:`.recording` (the request log), :mod:`.downloads` (DDS files) and :mod:`.app` (HTTP).
"""

from stacbridge.sandbox.m2m.app import create_m2m_app
from stacbridge.sandbox.m2m.catalogue import M2MEmulator
from stacbridge.sandbox.m2m.errors import M2MError
from stacbridge.sandbox.m2m.filters import parse_metadata_filter
from stacbridge.sandbox.m2m.queries import parse_scene_filter, parse_spatial_filter

__all__ = [
    "M2MEmulator",
    "M2MError",
    "create_m2m_app",
    "parse_metadata_filter",
    "parse_scene_filter",
    "parse_spatial_filter",
]
