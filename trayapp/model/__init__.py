"""The desktop app's model: plain Python, no Qt — importable by the client (`trayapp.client`) and the UI (`trayapp.ui`).

- :mod:`~trayapp.model.connection`: the connection state the tray shows and why (`ConnectionStatus`, `Problem`).
- :mod:`~trayapp.model.notification`: what a popup is (`Notification`, `Urgency`, `LIST_TARGET`).
- :mod:`~trayapp.model.describe`: words for events (notify keys, labels, notification title/body).
- :mod:`~trayapp.model.alerts`: the alert policy (re-alerts, bursts, catch-up, quiet hours, offline alarm)
- :mod:`~trayapp.model.rows`: a stored event as the list sees it (`HistoryRow`) and the list's filter (`RowFilter`).
"""
