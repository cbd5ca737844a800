"""The desktop app's connection to the bridge, its local history and credentials — no Qt here.

The only code that talks to the bridge. ``session.ClientSession`` is the desktop client as an asyncio session (its Qt
face is ``trayapp.ui.client_service.ClientService``); ``connection``, ``history``, ``credentials``, ``listen`` and
``connect`` are what it and the command line use.
"""
