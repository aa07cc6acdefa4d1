"""Planetary Computer's SAS token API and a blob host that requires its tokens."""

from stacbridge.sandbox.sas.app import SasAuthority, create_blob_app, sas_token_routes

__all__ = ["SasAuthority", "create_blob_app", "sas_token_routes"]
