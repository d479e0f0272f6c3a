"""The verification portal: server-rendered pages served by every node (see `routes`).

Verify a document by its file (hashed in the browser; only the SHA-256 is sent), by its
reference (signed-in members), or by the verification link its QR code carries; see the
verdict, and with a session the organisation's full view; print a verification sheet; watch
the ledger live. Sign-in is a signed challenge (`sessions`, `tradeledger portal login`).
"""

from node.portal.routes import router
from node.portal.sessions import PortalLimits

__all__ = ["PortalLimits", "router"]
