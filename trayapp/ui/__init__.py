"""The desktop widgets and notification back-ends: no business logic, no network."""
