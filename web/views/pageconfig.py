"""What every live page's script is told: its socket's path and the close codes it must tell
apart, from shared/protocol.py, so that no code is retyped in JS. Each page adds its own
fields (limits among them); the template renders the whole as json_script "page-config", which
web/static/js/page.js reads."""

from typing import Any

from shared.protocol import CLOSE_SERVICE_RESTART, CLOSE_SIGN_IN_REQUIRED, CLOSE_UNKNOWN_ROOM

# What web/static/js/socket.js does on each: reconnect at once with jitter, stop (or go on as a
# guest where the endpoint serves guests), stop.
CLOSE_CODES = {
    "service_restart": CLOSE_SERVICE_RESTART,
    "sign_in_required": CLOSE_SIGN_IN_REQUIRED,
    "unknown_room": CLOSE_UNKNOWN_ROOM,
}


def page_config(ws_path: str, **fields: Any) -> dict[str, Any]:
    """{"ws_path", "close_codes", **fields}: a dict for json_script."""
    return {"ws_path": ws_path, "close_codes": CLOSE_CODES, **fields}
