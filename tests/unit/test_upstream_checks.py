"""`checks.json_array_text`: an upstream paging cursor must be the documented JSON array."""

from __future__ import annotations

import pytest

from stacbridge.checks import MAX_CURSOR_CHARS, json_array_text
from stacbridge.protocols import ProviderError


def test_a_json_array_cursor_is_kept_as_sent() -> None:
    cursor = '["lpcloud",1704067682789,4000895543]'
    assert json_array_text("cmr", cursor, "CMR-Search-After") == cursor
    assert json_array_text("cmr", None, "CMR-Search-After") is None


@pytest.mark.parametrize(
    "value",
    ["garbage", "", "{}", "[]", "3", '"x"', "[1", 7, ["a"], "[" + "1," * MAX_CURSOR_CHARS + "1]"],
)
def test_anything_else_is_the_upstreams_502(value: object) -> None:
    with pytest.raises(ProviderError) as caught:
        json_array_text("cmr", value, "CMR's CMR-Search-After header")
    assert caught.value.status_code == 502
    assert caught.value.provider == "cmr"
    assert "CMR-Search-After" in str(caught.value)
