"""Errors of the panel's service layer: a code, an HTTP status and a message a user can read.

``Forbidden`` and ``NotFound`` are answered in one place for pages (panel/middleware.py) and for the API
(api/responses.py). A ``Refused`` request is one the user can correct (other input, another moment):
pages show its message beside the form or object it came from.
"""


class PanelError(Exception):
    code = "error"
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Forbidden(PanelError):
    code = "forbidden"
    status = 403


class NotFound(PanelError):
    code = "not_found"
    status = 404


class Refused(PanelError):
    """The request cannot be done as asked, or not now; the message says why."""


class InvalidRequest(Refused):
    code = "invalid"
    status = 400


class Conflict(Refused):
    """The object is busy or in a state that does not allow the action."""

    code = "conflict"
    status = 409


class NodeUnavailable(Refused):
    code = "node_unavailable"
    status = 503
