"""Small tools for the hot path (decode → translate → encode), see design §9.

A 2,000-granule page decodes into millions of short-lived containers; CPython's cyclic
garbage collector then runs hundreds of times per page scanning objects that hold no cycles
(measured: ~38 % of a page's time).  `gc_paused` switches it off around such synchronous,
allocation-heavy blocks; reference counting still frees everything, and the collector resumes
at the end of the block.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Disable the cyclic GC for a synchronous block (nesting-safe; no awaits inside)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
