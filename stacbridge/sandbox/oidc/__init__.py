"""A Keycloak-shaped OIDC token endpoint (ESA MAAP's IAM) for the sandbox."""

from stacbridge.sandbox.oidc.app import Keycloak, create_oidc_app

__all__ = ["Keycloak", "create_oidc_app"]
