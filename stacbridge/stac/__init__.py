"""The translation kit: what every provider translator shares, with one behaviour each.

- `extensions`: the extension schema URIs and `stac_extensions`, which derives an object's
  `stac_extensions` from the fields it actually carries (never from flags kept in step by hand).
- `media`: media types and the one by-file-extension lookup.
- `values`: number parsing, RFC 3339 text, multihash checksums, DOI normalisation, unique keys.
- `items`: the one Item dict shape (`item_dict`, `STAC_VERSION`).
- `geometry`: GeoJSON shapes and bboxes, antimeridian-safe.
- `cql2`: pure CQL2-JSON helpers that providers use to narrow their upstream queries.

The submodules are not imported here: a provider that needs `cql2` does not pay for geometry.
"""
