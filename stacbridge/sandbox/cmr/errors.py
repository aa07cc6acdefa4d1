"""CMR's limits and error messages, worded as CMR's own source words them.

Clients (and the gateway's tests) match on these strings, so they live in one place
and are quoted from nasa/Common-Metadata-Repository rather than paraphrased.
"""

from __future__ import annotations

from collections.abc import Sequence

MAX_PAGE_SIZE = 2000
PAGING_DEPTH_LIMIT = 1_000_000


MSG_ALL_GRANULES = (
    "The CMR does not allow querying across granules in all collections. To help optimize your "
    "search, you should limit your query using conditions that identify one or more "
    "collections, such as provider, provider_id, concept_id, collection_concept_id, "
    "short_name, version or entry_title. For any questions please contact "
    "cmr-support@nasa.gov."
)
MSG_ALL_GRANULES_SPATIAL = (
    "The CMR does not allow querying across granules in all collections with a spatial "
    "condition. You should limit your query using conditions that identify one or more "
    "collections such as provider, concept_id, short_name, or entry_title."
)
MSG_PAGE_SIZE = f"page_size must be a number between 0 and {MAX_PAGE_SIZE}"
MSG_PAGE_NUM = "page_num must be a number greater than or equal to 1"
MSG_OFFSET = f"offset must be an integer between zero and {PAGING_DEPTH_LIMIT}"
MSG_SEARCH_AFTER_ARRAY = (
    "search-after header value is invalid, must be in the form of a JSON array."
)
MSG_SEARCH_AFTER_STRING = (
    'The search failed with error: [{:type "parsing_exception", :reason "Unknown key for a '
    'VALUE_STRING in [search_after].", :line 1, :col 17}]. Please double check your '
    "search_after header."
)
MSG_TEMPORAL_FORMAT = (
    "The valid format for temporal parameters are temporal[]=startdate,stopdate and "
    "temporal[]=startdate,stopdate,startday,endday"
)
MSG_RING_NOT_CLOSED = (
    "Polygon boundary was not closed. The last point must be equal to the first point."
)
MSG_RING_ORDER = (
    "The polygon boundary points are listed in the wrong order. Points must be provided in "
    "counter-clockwise order."
)
#: CMR's documented refusal of a keyword mixing a phrase with words, or holding two phrases
MSG_KEYWORD_PHRASE = (
    "keyword phrase mixed with keyword, or another keyword-phrase are not supported. "
    "keyword phrase has to be enclosed by two escaped double quotes."
)
MSG_NOT_EMULATED = "The stacbridge CMR sandbox does not emulate {what}."


def _es_error(reason: str, kind: str = "illegal_argument_exception") -> str:
    return (
        f'The search failed with error: [{{:type "{kind}", :reason "{reason}"}}]. '
        "Please double check your search_after header."
    )


def _numeric_range_msg(value: str) -> str:
    return (
        f"[{value}] is not of the form 'value', 'min-value,max-value', 'min-value,', or "
        "',max-value' where value, min-value, and max-value are optional numeric values."
    )


class CmrError(Exception):
    """A search error answered as ``{"errors": [...]}`` with `status`."""

    def __init__(self, errors: Sequence[str], status: int = 400) -> None:
        super().__init__("; ".join(errors))
        self.errors = list(errors)
        self.status = status
