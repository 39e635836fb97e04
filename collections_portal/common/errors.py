class ConflictError(Exception):
    """Another save changed the record since the editor loaded it (optimistic locking)."""

    def __init__(self, message: str, *, current=None, changed_fields: dict | None = None):
        super().__init__(message)
        self.message = message
        self.current = current
        # {field: (value the editor saw, value now stored)}
        self.changed_fields = changed_fields or {}
