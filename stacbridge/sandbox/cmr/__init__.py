"""A faithful NASA CMR search emulator (UMM-JSON collections and granules) for the sandbox.

``create_cmr_app()`` returns a Starlette ASGI app serving, under ``/search``:

* ``GET|POST /search/collections.umm_json`` and ``GET|POST /search/granules.umm_json``
  (POST takes ``application/x-www-form-urlencoded`` parameters, merged with the query string);
* the same searches as ``.json`` (CMR's legacy ATOM-JSON, python-cmr's default):
  ``{"feed": {"updated", "id": <request URL>, "title": "ECHO granule metadata" | "ECHO dataset
  metadata", "entry": [...]}}`` in ``application/json;charset=utf-8`` (as recorded), with the
  same paging headers and errors as ``umm_json``; records that have a recorded ATOM entry
  (``granules_json__*``, ``collections_json__*``) serve it verbatim (data-host ``href`` mapped),
  all others an entry derived from the UMM record the ``umm_json`` search serves
  (:mod:`.atom`). Every other result format (``.stac``, ``.xml``, ``.echo10`` …) is a 400 "not
  emulated";
* ``POST /_sandbox/faults`` (JSON ``{"status": 503, "count": 2, "retry_after": 1}`` or
  ``{"delay": 5.0, "count": 1}``; optional ``"path"`` substring filter and ``"errors"`` body
  override) queues a fault for the next ``count`` search requests (a delay, then the status if
  one is given, else the normal answer); ``"body"`` (sent verbatim in CMR's content type, with
  ``status`` or 200; a JSON value other than a string is serialised) and ``"headers"`` (set on
  whatever is answered, e.g. ``{"CMR-Hits": "lots"}``) craft a malformed answer instead;
  ``GET`` lists queued faults, ``DELETE`` clears them;
* ``GET /_sandbox/requests`` returns the recent search-request log (method, path, raw query
  string, form body, the ``cmr-search-after`` request header, response status);
  ``DELETE`` clears it.

Responses copy CMR's shape: body ``{"hits":N,"took":ms,"items":[{"meta":…,"umm":…},…]}``,
content type ``application/vnd.nasa.cmr.umm_results+json;version=1.6.6; charset=utf-8``
(``1.18.4`` for collections, as recorded), headers ``CMR-Hits``, ``CMR-Took``,
``CMR-Request-Id``, ``X-Request-Id``, ``Access-Control-Expose-Headers`` (the recorded value) and
``CMR-Search-After`` (compact JSON array of the last item's sort values) whenever the page has
items — and no ``CMR-Search-After`` on an empty page, exactly as the GAMSSA
``search_after_end_empty`` recording shows. Errors are ``{"errors": ["…"]}`` with the messages
of CMR's own source (nasa/Common-Metadata-Repository, search-app / common-app-lib parameter
validation, read at 543a30f2).

Records
-------
Recorded items (``fixtures/cmr/*umm_json*``) are served **verbatim**: the exact bytes of each
item as CMR sent it (items of the pretty-printed earthaccess fixtures are re-serialised
compactly), de-duplicated by concept-id. ``data_host_map`` rewrites ``"URL":"<prefix>`` in
granule records (recorded and generated) to the replacement base URL.

Collections served: every UMM-C of the ``collections_umm_json__*`` fixtures, verbatim; the bare
HLSS30 UMM-C (``concept_umm_c__HLSS30_C2021957295-LPCLOUD.json``) wrapped in a synthesised
``meta`` (concept-id C2021957295-LPCLOUD, revision-id 1, native-id ``HLSS30.v2.0``,
revision-date = its MetadataDates UPDATE, s3-links ``lp-prod-p*/HLSS30.020/``,
``user-id`` ``stacbridge-sandbox``); and one **derived** record for every collection that has
recorded granules but no recorded UMM-C. Derivations (all deterministic, all marked in ``meta``
by ``"user-id": "stacbridge-sandbox-derived"``):

* collection concept-id: the granule meta's ``collection-concept-id``; for the earthaccess
  fixtures whose UMM-G meta lacks it (ATL03, MYD021KM, GPM_3IMERGHH, NLDAS, Daymet) it is read
  from the twin legacy ``granules_json__*`` fixture (``collection_concept_id``), which also
  gives the EntryTitle (``dataset_id``) and coordinate system;
* ShortName/Version from the granules' ``CollectionReference``; for ATL03 (EntryTitle only)
  from the GranuleUR ``SC:ATL03.005:…``; provider = the granules' provider;
* HLSL30 (C2021957657-LPCLOUD; granules carry only an EntryTitle) is the HLSS30 UMM-C used as a
  template: ShortName HLSL30, the granules' EntryTitle (also as citation title), DOI/URLs/
  attribute values rewritten HLSS30→HLSL30, Platforms LANDSAT-8 and LANDSAT-9 with OLI/TIRS,
  temporal extent from 2013-04-11 (ongoing), the abstract's Sentinel-2-specific sentences
  rewritten and MSI-only additional attributes dropped;
* SWOT_L2_HR_RiverSP_reach_2.0 (C2799438303-POCLOUD) is built from the legacy ATOM-JSON
  collection entry (``collections_json__SWOT_RiverSP_PODAAC.json``): title, summary, boxes,
  time_start, platforms, processing level, archive centre; revision-id 17 from its recorded
  CMR-Search-After;
* all others: Abstract = EntryTitle plus a note that the record is derived, DOI
  ``MissingReason: Unknown``, temporal extent = [earliest start, latest end] of the recorded
  granules, one bounding rectangle enclosing the recorded granule footprints,
  GranuleSpatialRepresentation from the legacy coordinate system (else GEODETIC for GPolygons,
  CARTESIAN for boxes), Platforms from the granules' UMM-G when present, ``s3-links`` from the
  granules' ``s3://`` URLs (bucket/first-prefix), revision-date = latest granule revision-date.

Granules: every recorded UMM-G item plus the generated HLSL30 and HLSS30 populations of
:mod:`stacbridge.sandbox.cmr.generator` (``generated_granules`` of each, computed on demand and
merged in sort order with the recorded granules; HLSS30 has none recorded, and its population
adds tile T15UXP so the README's Minnesota example finds it).

Search semantics (CMR's, as far as the emulator goes)
-----------------------------------------------------
* Parameter names: ``x[]`` = ``x``, ``-`` = ``_``, aliases ``provider_id``→``provider``,
  ``dataset_id``→``entry_title``, ``echo_collection_id``/``echo_granule_id``→``concept_id``;
  repeated values OR (``options[x][and]=true`` → AND); strings case-insensitive unless
  ``options[x][ignore_case]=false`` (concept ids always exact); ``options[x][pattern]=true``
  enables ``*``/``?``. Empty values are dropped. Unknown names → CMR's
  ``Parameter [x] was not recognized.``; names CMR knows but the emulator does not evaluate
  (orbit_number, cycle, passes, equator_crossing_*, two_d_coordinate_system, created_at,
  has_granules_or_cwic, include_facets, tag_*, variable_*, service_*, tool_* …) are a 400
  ``The stacbridge CMR sandbox does not emulate the [x] parameter of granule searches.``:
  nothing is ever ignored. The evaluated ones are ``params._GRANULE_EVALUATED`` and
  ``params._COLLECTION_EVALUATED``.
* Descriptive granule parameters (:mod:`.conditions`): platform, instrument (UMM-G
  ``Platforms``), ``day_night_flag`` (``DataGranule.DayNightFlag``), ``native_id`` (meta),
  ``online_only``/``downloadable`` (a ``GET DATA`` RelatedUrl), ``browse_only``/``browsable`` (a
  ``GET RELATED VISUALIZATION`` one), ``revision_date`` ranges and ``updated_since`` (meta
  revision-date), ``production_date`` (``DataGranule.ProductionDateTime``), ``attribute[]``
  (``name``, ``type,name,value``, ``type,name,min,max``; AND unless ``options[attribute][or]``)
  on ``AdditionalAttributes``. On the generated populations they are arithmetic
  (:mod:`.population`): the platform switch is a residue class, dates lag the sensing time by a
  bounded amount so only the boundary indices are checked one by one, tile-only attributes are
  a tile set, ``CLOUD_COVERAGE`` a cloud range; what is left (an attribute that varies per
  granule, OR-ed attributes) is checked granule by granule, at most 20,000 at once, else a 400
  "not emulated … narrow the temporal range".
* Descriptive collection parameters: ``doi``, ``processing_level_id``, ``data_center`` (any
  data centre's ShortName), ``archive_center`` (an ARCHIVER's), ``project``,
  ``science_keywords[n][field]`` (each group on one keyword; groups AND unless
  ``options[science_keywords][or]``), ``spatial_keyword`` (any LocationKeywords value),
  ``granule_data_format`` (the ArchiveAndDistributionInformation formats), ``native_id``,
  ``revision_date``, ``updated_since``.
* ``readable_granule_name`` / ``granule_ur`` / ``producer_granule_id`` / ``native_id`` patterns
  (``options[x][pattern]=true``) over the generated populations: a glob automaton runs over each
  tile's name prefix and each day's date, and only the (tile, day) groups where it can still
  accept are checked name by name — no sandbox-only limit.
* Default sorts: granules (provider, start_date, concept sequence) →
  ``["lpcloud",1707670711150,2865703626]``; collections (entry title, provider) + sub-sort
  (short name, parsed version, concept sequence, revision) → the recorded 6-tuple.
  ``sort_key`` ``±start_date``/``±end_date`` (granules and collections) and
  ``±entry_title``/``±short_name``/``±provider`` (collections) are emulated; a key CMR accepts
  but the emulator cannot order by gets a 400 saying so; an unknown key gets CMR's message.
* temporal: ``start,end`` or ISO ``start/end`` (``start/P1D`` durations too), either side
  empty; overlap with the granule's range, inclusive (``exclude_boundary`` honoured); repeated
  → OR. The periodic ``start,end,start_day,end_day`` form is refused (not emulated).
* Spatial (bounding_box W,S,E,N with W>E crossing ±180, polygon CCW closed, point, line):
  planar intersection in lon/lat with shapely (CMR uses great-circle edges; identical for the
  tile-sized shapes here). Multiple spatial conditions AND unless ``options[spatial][or]=true``.
  A granule whose UMM-G spatial extent is Orbit-only (ATL03) is matched with the footprint CMR
  computed for it (the ``polygons`` of its recorded legacy JSON twin); without one it would
  never match a spatial query.
* cloud_cover ``min,max`` (either side optional): UMM-G ``CloudCover``, else the
  ``CLOUD_COVERAGE`` additional attribute (what HLS carries); granules with neither never
  match a cloud-cover query.
* keyword (collections), as CMR documents it: space-separated words, each a case-insensitive
  *whole word* (``*``, ``?`` wildcards within it) of ShortName, EntryTitle, Abstract, version,
  concept-id, DOI, science/location/ancillary keywords, platforms, instruments, projects, data
  centres — all words must match, in any fields; or one phrase in double quotes, its words
  contiguous within one field; ``\\"`` a literal quote; a phrase mixed with words, two
  phrases or an unpaired quote → 400 with CMR's documented message; a second ``keyword``
  value → 400 (single-valued). Which characters besides spaces delimit words is a guess
  (``,;:()[]{}<>/|=+``).
Guesses (no recording or source read; kept here so they stay visible)
---------------------------------------------------------------------
* Errors are served as ``application/json; charset=utf-8``; a malformed ISO interval is a 400
  (CMR's converter may raise it as 422); a granule search with no collection condition but a
  spatial one gets the spatial variant of the message (production CMR may reject it earlier
  with the general one); fault bodies (``{"errors": ["Service Unavailable"]}`` …) are CMR-like,
  not recorded.
* The "not emulated" 400s are the sandbox's own (CMR would answer those parameters); the
  messages for a malformed ``attribute[]`` value or ``updated_since`` date are worded by the
  sandbox, not quoted from CMR.
* ``attribute[]`` values are compared as the query's type says (UMM-G carries no types; CMR
  takes them from the collection's definitions); ``time`` values compare as strings.
* ``downloadable`` means a ``GET DATA`` RelatedUrl and ``browsable`` a ``GET RELATED
  VISUALIZATION`` one (CMR decides from its echo10 OnlineAccessURLs / browse references).
* Derived ATOM entries: link ``rel`` from the RelatedUrl type as the recorded pairs show
  (``GET DATA`` data#, ``… DIRECT ACCESS`` s3#, visualisation browse#, OPeNDAP service#,
  ``VIEW RELATED INFORMATION`` metadata# — recorded entries sometimes say documentation#, from
  their echo10 original); non-data link titles ``"<Description> (<Type> : <Subtype>)"``; no
  collection-inherited links; ``cloud_cover`` as a string; a collection's ``organizations``
  are its data centres' short names, archive first, without ``associations``,
  ``service_features``, ``orbit_parameters`` or ``consortiums``. The scalar fields are checked
  against the recorded pairs in ``tests/integration/test_real_clients_cmr.py``.
* The generated HLSS30 record: the HLSL30 recording rewritten (``HLS.S30`` names,
  ``HLSS30.020`` paths, Sentinel-2A/2B MSI, ``PRODUCT_URI`` instead of ``LANDSAT_PRODUCT_ID``,
  B08/B8A/B12 links added, Landsat-only attributes dropped); no HLSS30 granule was recorded.

Layout
------
One module per concern, each importable on its own: :mod:`.errors` (limits, CMR's messages),
:mod:`.params`, :mod:`.temporal`, :mod:`.spatial`, :mod:`.matching`, :mod:`.sorting`,
:mod:`.records` (UMM → searchable records), :mod:`.fixtures` (the recordings, verbatim),
:mod:`.derived` (the derived collections above), :mod:`.generator` (the HLSL30 population),
:mod:`.pages`, :mod:`.catalogue` (`CmrEmulator`) and :mod:`.app` (HTTP and sandbox controls).
"""

from stacbridge.sandbox.cmr.app import create_cmr_app
from stacbridge.sandbox.cmr.catalogue import CmrEmulator
from stacbridge.sandbox.cmr.errors import (
    MAX_PAGE_SIZE,
    MSG_ALL_GRANULES,
    MSG_ALL_GRANULES_SPATIAL,
    MSG_SEARCH_AFTER_ARRAY,
    PAGING_DEPTH_LIMIT,
    CmrError,
)

__all__ = [
    "MAX_PAGE_SIZE",
    "MSG_ALL_GRANULES",
    "MSG_ALL_GRANULES_SPATIAL",
    "MSG_SEARCH_AFTER_ARRAY",
    "PAGING_DEPTH_LIMIT",
    "CmrEmulator",
    "CmrError",
    "create_cmr_app",
]
