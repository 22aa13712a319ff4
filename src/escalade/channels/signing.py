"""The webhook signature scheme, shared by outgoing webhooks and review callbacks.

It lives in the SDK (`escalade.sdk.signature`) so that receivers verify with the
very code the server signs with; see docs/webhooks.md.
"""

from __future__ import annotations

from escalade.sdk.signature import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign,
    verify,
)

__all__ = ["DELIVERY_HEADER", "SIGNATURE_HEADER", "TIMESTAMP_HEADER", "sign", "verify"]
