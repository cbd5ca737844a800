"""Agent words shared by the client (probe results, ``client.proof``) and the UI (tray, popups, dialogs).

What an agent reads when the connection needs a new link; "alert server" and "your admin", never "bridge",
"token" or a key format.
"""

from __future__ import annotations

from typing import Final

KEY_MISMATCH_WORDS: Final = "This link does not match your team's alert server — ask your admin for a new link."
REVOKED_WORDS: Final = "Your access was turned off — ask your admin for a new link."
REFUSED_WORDS: Final = "Your team's alert server does not accept this link — ask your admin for a new link."

#: By ``model.connection.Problem`` value: what a running connection says when only a new link from the admin helps.
#: A token the alert server stops knowing (401: deleted) is access turned off, like a revoked one (403 / 4001);
#: a link that never worked is "does not accept this link" (``client.proof``).
NEEDS_A_LINK: Final[dict[str, str]] = {
    "key_mismatch": KEY_MISMATCH_WORDS,
    "revoked": REVOKED_WORDS,
    "token_refused": REVOKED_WORDS,
}
