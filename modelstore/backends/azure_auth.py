"""Tell "no Azure credential was found" from "Azure refused the credential", and say what to do.

Both reach us as `ClientAuthenticationError`. When DefaultAzureCredential finds nothing to
sign in with (no `az login`, no workload identity, no managed identity), the error is raised
before any request is sent, so it carries no HTTP response; a credential that Azure refuses
comes back as a 401 or 403 response. The two need different fixes, and saying "refused"
when nothing was sent sends people looking for a wrong role assignment.
"""

from __future__ import annotations

from azure.core.exceptions import ClientAuthenticationError

SIGN_IN = (
    "sign in with `az login`, or give a workload identity"
    " (AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_FEDERATED_TOKEN_FILE)"
)


def no_credential_found(err: ClientAuthenticationError) -> bool:
    """True when the SDK never sent a request: the credential chain found nothing to use."""
    return getattr(err, "response", None) is None
