"""What both processes import: settings, the wire protocol, rules and Redis-backed state."""
