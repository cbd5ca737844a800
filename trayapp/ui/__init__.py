"""The desktop UI: widgets without business logic, and the notification back-ends."""
