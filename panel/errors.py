"""Errors of the panel's service layer: a code, an HTTP status and a message a user can read."""


class PanelError(Exception):
    code = "error"
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(PanelError):
    code = "invalid"
    status = 400


class Forbidden(PanelError):
    code = "forbidden"
    status = 403


class NotFound(PanelError):
    code = "not_found"
    status = 404


class Conflict(PanelError):
    """The object is busy or in a state that does not allow the action."""

    code = "conflict"
    status = 409


class NodeUnavailable(PanelError):
    code = "node_unavailable"
    status = 503
