"""Errors as RFC 9457 problem details (`application/problem+json`).

Every error the gateway answers is one shape: `type` (a URN naming the code), `title`,
`status`, `detail`, and the extension members `code` (the contract's rejection code, or
one of the gateway's own below) and, for a command, `commandId`. A client branches on
`code`, as on the wire.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from starlette.exceptions import HTTPException as StarletteHTTPException

from coaching_contracts.values import RejectionCode

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:coaching:problem:"

# The contract's rejection codes, as HTTP statuses: 422, the request can never succeed as
# sent; 403, not by this caller; 404, no such thing (or person); 409, the current state
# forbids it (it may change).
STATUS_OF_CODE: dict[str, int] = {
    RejectionCode.INVALID: 422,
    RejectionCode.SLOT_IN_PAST: 422,
    RejectionCode.POLICY_VIOLATION: 422,
    RejectionCode.FORBIDDEN: 403,
    RejectionCode.NOT_FOUND: 404,
    RejectionCode.UNKNOWN_USER: 404,
    RejectionCode.CONFLICT: 409,
    RejectionCode.SLOT_UNAVAILABLE: 409,
    RejectionCode.TOO_LATE: 409,
    RejectionCode.TOO_EARLY: 409,
    # The service failed on a valid command (it was dead-lettered): the gateway's upstream.
    RejectionCode.INTERNAL: 502,
    # The gateway's own.
    "unauthenticated": 401,
    "registration_closed": 403,
    "method_not_allowed": 405,
    "idempotency_key_reused": 422,
    "too_large": 413,
    "rate_limited": 429,
    "unavailable": 503,
}
# A code added to the contract later reads as `internal` (docs/contract.md, versioning).
UNKNOWN_CODE_STATUS = 502


class Problem(BaseModel):
    """RFC 9457 problem details."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    type: str = Field(description="urn:coaching:problem:<code>")
    title: str
    status: int
    detail: str = ""
    code: str = Field(description="Stable machine code: branch on it.")
    command_id: str | None = Field(None, description="The command this answers, if any.")
    errors: list[dict[str, Any]] | None = Field(None, description="Validation errors, if any.")


class ProblemError(Exception):
    def __init__(
        self,
        code: str,
        detail: str = "",
        *,
        command_id: str | None = None,
        headers: dict[str, str] | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(detail or code)
        self.problem = Problem(
            type=TYPE_PREFIX + code,
            title=code.replace("_", " "),
            status=STATUS_OF_CODE.get(code, UNKNOWN_CODE_STATUS),
            detail=detail,
            code=code,
            command_id=command_id,
            errors=errors,
        )
        self.headers = headers or {}


def problem_response(error: ProblemError) -> JSONResponse:
    return JSONResponse(
        error.problem.model_dump(by_alias=True, exclude_none=True),
        status_code=error.problem.status,
        media_type=PROBLEM_JSON,
        headers=error.headers,
    )


# For `responses=` of the routes: every error status is documented as a problem.
def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    content = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    return {status: {"description": "problem", "content": content} for status in statuses}


_STATUS_CODES = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}


def install(app: FastAPI) -> None:
    """Every error the app raises, as a problem."""

    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ProblemError)
        return problem_response(exc)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")}
            for e in exc.errors()
        ]
        return problem_response(ProblemError("invalid", "the request is invalid", errors=errors))

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _STATUS_CODES.get(exc.status_code, "invalid")
        return problem_response(
            ProblemError(code, str(exc.detail), headers=dict(exc.headers or {}))
        )

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
