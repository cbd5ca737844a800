"""The desktop app's connection to the bridge, its local history and credentials.

The only code that talks to the bridge. ``service.ClientService`` is the Qt face (signals in the GUI thread);
``connection``, ``history``, ``credentials``, ``listen`` and ``connect`` import no Qt at all.
"""
