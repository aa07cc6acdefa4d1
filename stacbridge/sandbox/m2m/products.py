"""Download products (bundles, band files, browse images) and their ids.

Ids are derived from the dataset and file kind, as M2M's ``dataset-file-groups`` shows,
so ``download-request`` can name a file the way a client would.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stacbridge.sandbox.m2m.fixtures import _Dataset
from stacbridge.sandbox.m2m.generator import alnum_id, hex_id


@dataclass(frozen=True)
class _Product:
    """One downloadable thing: what download-retrieve lists and what /download serves."""

    dataset: str
    scene: Any  # the scene key in its source (index or entity id)
    entity_id: str  # as listed (a band file's own entity id)
    display_id: str
    product_id: str
    product_code: str
    product_name: str
    dataset_id: str
    collection_name: str
    filesize: int
    path: str  # FileSource path (``pad/<size>/<path>`` pads a small file to `filesize`)
    filename: str
    prepares: bool  # starts "preparing"


# (file kind, nominal size in bytes or None for "ask the FileSource", display order)
_L2_FILES = (
    ("ANG.txt", None), ("MTL.txt", None), ("MTL.xml", None), ("MTL.json", None),
    ("QA_PIXEL.TIF", 4_200_000), ("QA_RADSAT.TIF", 520_000),
    ("SR_B1.TIF", 68_000_000), ("SR_B2.TIF", 69_000_000), ("SR_B3.TIF", 70_000_000),
    ("SR_B4.TIF", 71_000_000), ("SR_B5.TIF", 74_000_000), ("SR_B6.TIF", 73_000_000),
    ("SR_B7.TIF", 72_000_000), ("SR_QA_AEROSOL.TIF", 2_600_000), ("ST_B10.TIF", 66_000_000),
    ("ST_ATRAN.TIF", 41_000_000), ("ST_CDIST.TIF", 23_000_000), ("ST_DRAD.TIF", 39_000_000),
    ("ST_EMIS.TIF", 37_000_000), ("ST_EMSD.TIF", 33_000_000), ("ST_QA.TIF", 43_000_000),
    ("ST_TRAD.TIF", 42_000_000), ("ST_URAD.TIF", 40_000_000),
)  # fmt: skip
_L1_FILES = (
    ("ANG.txt", None), ("MTL.txt", None), ("MTL.xml", None), ("MTL.json", None),
    ("B1.TIF", 64_000_000), ("B2.TIF", 65_000_000), ("B3.TIF", 66_000_000),
    ("B4.TIF", 67_000_000), ("B5.TIF", 70_000_000), ("B6.TIF", 69_000_000),
    ("B7.TIF", 68_000_000), ("B8.TIF", 255_000_000), ("B9.TIF", 44_000_000),
    ("B10.TIF", 57_000_000), ("B11.TIF", 56_000_000), ("QA_PIXEL.TIF", 4_000_000),
    ("QA_RADSAT.TIF", 500_000), ("SAA.TIF", 5_600_000), ("SZA.TIF", 4_400_000),
    ("VAA.TIF", 6_100_000), ("VZA.TIF", 4_700_000),
)  # fmt: skip


def _entity_prefix(level: str, kind: str) -> str:
    if level == "L1":
        return "L1_"  # the reference: L1_LC09_L1TP_…_ANG_TXT
    if kind.startswith("SR_"):
        return "L2SR_"
    if kind.startswith("ST_"):
        return "L2ST_"  # observed live: L2ST_LC09_L2SP_…_ST_B10_TIF
    return "L2QA_" if kind.startswith("QA_") else "L2_"


class _C2Products:
    """Product ids, codes and files of one Collection 2 dataset level."""

    def __init__(self, level: str, dataset: _Dataset) -> None:
        n = level[1]
        self.level = level
        self.dataset = dataset
        self.bundle_id = hex_id("m2m-bundle", dataset.dataset_id, prefix=dataset.dataset_id[:6])
        self.folder_id = hex_id("m2m-folder", dataset.dataset_id, prefix=dataset.dataset_id[:6])
        self.bundle_code = "D684" if level == "L1" else "D688"
        self.band_code = "D687" if level == "L1" else "D689"  # D687: the reference's L1 sample
        self.bundle_name = f"Landsat Collection 2 Level-{n} Product Bundle"
        self.band_name = f"Landsat Collection 2 Level-{n} Band File"
        self.download_name = f"C2L{n} Tile Product Files"
        # landsat_band_files_c2_l1's id is the reference's; the L2 one is made up
        self.files_dataset_id = (
            "5e81ff5f86d11d08" if level == "L1" else hex_id("m2m-band-files-c2-l2", prefix="5e83")
        )
        self.files = _L1_FILES if level == "L1" else _L2_FILES
        self.file_ids = {kind: alnum_id("m2m-file", level, kind) for kind, _ in self.files}
        self.kind_for_id = {v: k for k, v in self.file_ids.items()}
        self.groups = (f"ls_c2l{n}_all", f"ls_c2l{n}_ot_band")

    def dataset_download_options(self) -> list[dict]:
        return [
            {"productId": self.bundle_id, "productCode": self.bundle_code,
             "productName": self.bundle_name, "downloadName": None, "downloadSystem": "dds",
             "fileGroups": None},
            {"productId": self.folder_id, "productCode": self.band_code,
             "productName": self.band_name, "downloadName": self.download_name,
             "downloadSystem": "folder", "fileGroups": list(self.groups)},
        ]  # fmt: skip
