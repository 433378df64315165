"""Who is calling: the API key's tenant, checked against the rate limit. A FastAPI dependency."""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from dayshift.errors import ConfigError
from dayshift.service.auth import Principal
from dayshift.service.errors import ApiError
from dayshift.service.logs import tenant_var
from dayshift.service.state import service_of

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer dsk_...`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key, as a header instead")
TENANT_HEADER = "X-Dayshift-Tenant"


async def caller(
    request: Request,
    bearer: HTTPAuthorizationCredentials | None = Depends(_bearer),
    header_key: str | None = Depends(_header),
) -> Principal:
    service = service_of(request)
    key = bearer.credentials if bearer is not None else header_key
    try:
        principal = service.auth.principal(key, acting_for=request.headers.get(TENANT_HEADER))
    except ConfigError as exc:
        raise ApiError(400, "invalid", f"{TENANT_HEADER}: {exc}") from exc
    if principal is None:
        detail = ("this request needs an API key: send `Authorization: Bearer <key>`; "
                  "create one with `dayshift keys create --tenant NAME`")
        if key is not None:
            detail = "unknown or revoked API key; create a new one with `dayshift keys create --tenant NAME`"
        raise ApiError(401, "unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})
    wait_s = service.limiter.take(principal.key_id)
    if wait_s > 0:
        service.metrics.rate_limited()
        raise ApiError(
            429, "rate_limited",
            f"rate limit of {service.settings.service.rate_limit_per_minute} requests a minute for this key; "
            f"retry in {wait_s:.1f} s",
            headers={"Retry-After": str(max(1, round(wait_s + 0.5)))},
        )
    tenant_var.set(principal.tenant)
    return principal


def admin(principal: Principal = Depends(caller)) -> Principal:
    if not principal.admin:
        raise ApiError(403, "forbidden", "this needs the admin key (DAYSHIFT_SERVICE__ADMIN_KEY)")
    return principal
