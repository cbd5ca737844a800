"""Pure code shared by the bridge and the app: no Qt, no sockets, no files."""
