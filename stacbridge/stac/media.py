"""Media types of the files providers list, and the one lookup by file extension.

Providers rarely state a media type (CMR's `MimeType` is often missing or generic, M2M never
gives one), so an asset's `type` comes from its file name.  One table serves every translator,
so a `.nc` file is `application/netcdf` whichever catalogue listed it.

Whether a GeoTIFF is *cloud optimised* is not in its name: translators that know (a collection's
own metadata, USGS's Collection 2 documentation) swap `GEOTIFF` for `COG` themselves.  Code on
the hot path compares with `is` against the constants below, which the table shares.
"""

from __future__ import annotations

COG = "image/tiff; application=geotiff; profile=cloud-optimized"
GEOTIFF = "image/tiff; application=geotiff"
NETCDF = "application/netcdf"
HDF5 = "application/x-hdf5"
HDF = "application/x-hdf"  # HDF4 (MODIS `.hdf`)
JSON = "application/json"
XML = "application/xml"
TAR = "application/x-tar"
GZIP = "application/gzip"
ZIP = "application/zip"
TEXT = "text/plain"
CSV = "text/csv"
HTML = "text/html"
PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
GIF = "image/gif"
JP2 = "image/jp2"

#: lower-case file extension (no dot) → media type
BY_EXTENSION: dict[str, str] = {
    "tif": GEOTIFF,
    "tiff": GEOTIFF,
    "nc": NETCDF,
    "nc4": NETCDF,
    "h5": HDF5,
    "he5": HDF5,
    "hdf5": HDF5,
    "hdf": HDF,
    "json": JSON,
    "xml": XML,
    "tar": TAR,
    "gz": GZIP,
    "tgz": GZIP,
    "zip": ZIP,
    "txt": TEXT,
    "log": TEXT,
    "csv": CSV,
    "html": HTML,
    "htm": HTML,
    "pdf": PDF,
    "png": PNG,
    "jpg": JPEG,
    "jpeg": JPEG,
    "gif": GIF,
    "jp2": JP2,
}

#: media type → the short name of its format, for asset titles ("Data file (NetCDF)")
LABELS: dict[str, str] = {
    COG: "Cloud-Optimized GeoTIFF",
    GEOTIFF: "GeoTIFF",
    NETCDF: "NetCDF",
    HDF5: "HDF5",
    HDF: "HDF4",
    JSON: "JSON",
    XML: "XML",
    TAR: "tar",
    GZIP: "gzip",
    ZIP: "zip",
    TEXT: "text",
    CSV: "CSV",
    HTML: "HTML",
    PDF: "PDF",
    PNG: "PNG",
    JPEG: "JPEG",
    GIF: "GIF",
    JP2: "JPEG 2000",
}


def extension(name: str) -> str:
    """The lower-case extension of a file name or URL (`…/x.B03.TIF?a=1` → `tif`), or `""`."""
    name = name.rpartition("/")[2].partition("?")[0].partition("#")[0]
    base, dot, ext = name.rpartition(".")
    return ext.lower() if dot and base else ""


def media_type(name: str) -> str | None:
    """The media type of a file name or URL by its extension, or None when the table has none."""
    return BY_EXTENSION.get(extension(name))
