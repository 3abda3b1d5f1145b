"""Salesforce's error shapes.

REST answers an error with a JSON *array* of `{"message", "errorCode"[, "fields"]}`; collection results
carry `{"statusCode", "message", "fields"}` per record; the OAuth endpoint answers `{"error",
"error_description"}`. `FieldError` holds one error and renders either REST form.
"""

from __future__ import annotations

from dataclasses import dataclass

from concord.sandbox.salesforce.schema import JsonValue

NOT_FOUND_MESSAGE = "The requested resource does not exist"
LIMIT_EXCEEDED_MESSAGE = "TotalRequests Limit exceeded."


@dataclass(frozen=True)
class FieldError:
    """One Salesforce error. `fields=None` means the vendor omits the key (deserializer and routing errors)."""

    code: str
    message: str
    fields: tuple[str, ...] | None = None

    def rest(self) -> dict[str, JsonValue]:
        body: dict[str, JsonValue] = {"message": self.message, "errorCode": self.code}
        if self.fields is not None:
            body["fields"] = list(self.fields)
        return body

    def collection(self) -> dict[str, JsonValue]:
        return {"statusCode": self.code, "message": self.message, "fields": list(self.fields or ())}


class ApiError(Exception):
    """Ends a REST request with `status` and a vendor-shaped body."""

    def __init__(self, status: int, body: JsonValue, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body
        self.headers = headers or {}

    @classmethod
    def of(cls, status: int, *errors: FieldError) -> ApiError:
        return cls(status, [error.rest() for error in errors])


class OAuthError(Exception):
    """Ends a call to /services/oauth2/* with an RFC 6749 error body."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.status = status
        self.error = error
        self.description = description


def not_found(message: str = NOT_FOUND_MESSAGE) -> ApiError:
    return ApiError.of(404, FieldError("NOT_FOUND", message))


def entity_deleted() -> FieldError:
    return FieldError("ENTITY_IS_DELETED", "entity is deleted", ())


def invalid_session() -> ApiError:
    return ApiError.of(401, FieldError("INVALID_SESSION_ID", "Session expired or invalid"))


def missing_auth_header() -> ApiError:
    return ApiError.of(401, FieldError("INVALID_AUTH_HEADER", "INVALID_HEADER_TYPE"))


def limit_exceeded() -> ApiError:
    return ApiError.of(403, FieldError("REQUEST_LIMIT_EXCEEDED", LIMIT_EXCEEDED_MESSAGE))


def json_parser_error(message: str) -> ApiError:
    return ApiError.of(400, FieldError("JSON_PARSER_ERROR", message))


def no_such_column(field: str, sobject: str) -> ApiError:
    return ApiError.of(400, FieldError("INVALID_FIELD", f"No such column '{field}' on sobject of type {sobject}"))


def unsupported_type(name: str) -> FieldError:
    return FieldError(
        "INVALID_TYPE",
        f"sObject type '{name}' is not supported. If you are attempting to use a custom object, be sure to "
        "append the '__c' after the entity name. Please reference your WSDL or the describe call for the "
        "appropriate names.",
    )
