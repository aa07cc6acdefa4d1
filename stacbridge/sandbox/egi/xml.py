"""The XML bodies the EGI emulator answers with (synthetic: written from the element names the
recorded fragments and EDSC's test mocks show, see `fixtures/egi/SOURCES.md`).

`agent_response` builds `eesi:agentResponse` with the recorded root namespaces, `order/orderId`
and `order/Instructions`, `contactInformation`, `requestStatus/status|numberProcessed|
totalNumber`, `processInfo/processDuration|subagentId|message` and `downloadUrls/downloadUrl`.
`exception` builds the error body; its element names (`eesi:Exception`, `Code`, `Message`)
are a guess — no real EGI error body was recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape

XML_TYPE = "application/xml; charset=utf-8"

_ROOT_NS = (
    'xmlns="" xmlns:iesi="http://eosdis.nasa.gov/esi/rsp/i" '
    'xmlns:ssw="http://newsroom.gsfc.nasa.gov/esi/rsp/ssw" '
    'xmlns:eesi="http://eosdis.nasa.gov/esi/rsp/e" xmlns:esi="http://eosdis.nasa.gov/esi/rsp" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
)
_SCHEMA = (
    'xsi:schemaLocation="http://eosdis.nasa.gov/esi/rsp/e '
    'https://newsroom.gsfc.nasa.gov/esi/8.1/schemas/ESIAgentResponseExternal.xsd"'
)


def agent_response(
    order_id: str,
    status: str,
    processed: int,
    total: int,
    *,
    messages: Sequence[str] = (),
    download_urls: Sequence[str] = (),
    duration: str = "PT0S",
) -> str:
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f"<eesi:agentResponse {_ROOT_NS} {_SCHEMA}>",
        "<order>",
        f"<orderId>{escape(order_id)}</orderId>",
        "<Instructions>You may receive an email about your order if you specified an EMAIL "
        "address. &lt;&lt;This is a synthetic response of the stacbridge sandbox&gt;&gt;"
        "</Instructions>",
        "</order>",
        "<contactInformation><contactName>NSIDC User Services</contactName>"
        "<contactEmail>nsidc@nsidc.org</contactEmail></contactInformation>",
        "<requestStatus>",
        f"<status>{escape(status)}</status>",
        f"<numberProcessed>{processed}</numberProcessed>",
        f"<totalNumber>{total}</totalNumber>",
        "</requestStatus>",
        "<processInfo>",
        f"<processDuration>{duration}</processDuration>",
        "<subagentId>ICESAT2</subagentId>",
        *(f"<message>{escape(m)}</message>" for m in messages),
        "</processInfo>",
    ]
    if download_urls:
        parts.append("<downloadUrls>")
        parts += [f"<downloadUrl>{escape(u)}</downloadUrl>" for u in download_urls]
        parts.append("</downloadUrls>")
    parts.append("</eesi:agentResponse>")
    return "\n".join(parts)


def exception(code: str, message: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<eesi:Exception {_ROOT_NS}>\n"
        f"<Code>{escape(code)}</Code>\n<Message>{escape(message)}</Message>\n"
        "</eesi:Exception>"
    )


def capabilities(
    short_name: str,
    version: str,
    formats: Sequence[str],
    variables: Sequence[str],
    projections: Sequence[str],
) -> str:
    """`/egi/capabilities/<short_name>.<version>.xml` (element names as icepyx reads them)."""
    rows = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<Capabilities shortName="{escape(short_name)}" version="{escape(version)}">',
        '<SubsetAgent id="ICESAT2" spatialSubsetting="true" temporalSubsetting="true" '
        'bboxSubsetting="true" shapefileSubsetting="false" polygonSubsetting="false">',
        *(f'<Format value="{escape(f)}" label="{escape(f)}"/>' for f in formats),
        *(f'<Projection value="{escape(p)}" label="{escape(p)}"/>' for p in projections),
        *(f'<SubsetVariable value="{escape(v)}"/>' for v in variables),
        "</SubsetAgent>",
        "</Capabilities>",
    ]
    return "\n".join(rows)
