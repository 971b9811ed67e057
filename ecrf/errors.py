"""Domain errors as values with a path; turned into problem+json or a page at the edge."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FieldError:
    """One fault at one place: ``path`` is a JSON pointer such as ``/ALT``."""

    path: str
    message: str

    def as_dict(self) -> dict:
        return {"path": self.path, "message": self.message}


class DomainError(Exception):
    """Base of every error the engine reports to a caller; carries an HTTP status."""

    status = 400
    title = "Bad request"
    extra: dict = {}  # members added to the problem+json body (RFC 9457 extensions), e.g. a list of obstacles

    def __init__(self, detail: str, errors: list[FieldError] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class BadRequest(DomainError):
    status, title = 400, "Bad request"


class ReasonRequired(DomainError):
    status, title = 400, "Reason for change required"


class NotAuthenticated(DomainError):
    status, title = 401, "Not authenticated"


class Forbidden(DomainError):
    status, title = 403, "Forbidden"


class NotFound(DomainError):
    status, title = 404, "Not found"


class Conflict(DomainError):
    status, title = 409, "Conflict"


class PayloadTooLarge(DomainError):
    status, title = 413, "Payload too large"


class UnsupportedMediaType(DomainError):
    status, title = 415, "Unsupported media type"


class Invalid(DomainError):
    status, title = 422, "Validation failed"


class Locked(DomainError):
    status, title = 423, "Locked"


class Unavailable(DomainError):
    status, title = 503, "Service unavailable"


@dataclass
class Faults:
    """Faults found in a study definition, each as ``file: /pointer: message``."""

    items: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, file: str, pointer: str, message: str) -> None:
        self.items.append((file, pointer or "/", message))

    def __bool__(self) -> bool:
        return bool(self.items)

    def lines(self) -> list[str]:
        return [f"{file}: {pointer}: {message}" for file, pointer, message in self.items]


class DefinitionError(DomainError):
    """A study definition broke its meta-schema or refers to what does not exist."""

    status, title = 422, "Invalid study definition"

    def __init__(self, faults: Faults):
        super().__init__(f"{len(faults.items)} fault(s) in the study definition")
        self.faults = faults
        self.errors = [FieldError(f"{f}#{p}", m) for f, p, m in faults.items]
