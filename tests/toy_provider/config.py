"""The `[toy]` settings section."""

from __future__ import annotations

from pydantic import BaseModel


class ToySettings(BaseModel):
    enabled: bool = True
    #: the one collection's id.
    collection: str = "toy-grid"
    #: how many items the collection holds (one per 1°×1° cell, west to east, then north).
    items: int = 40
    #: where resolved assets redirect to.
    data_url: str = "http://127.0.0.1:9/toy"
