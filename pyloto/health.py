"""Liveness (`/healthz`) and readiness (`/readyz`: database, migrations, Redis, broker) endpoints."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache

from pyloto.readiness import EMBEDDED_NOT_CHECKED, check_readiness


@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    """200 while the process runs; no dependency is consulted."""
    return HttpResponse("ok", content_type="text/plain")


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """200 when every dependency this mode uses answers, else 503 naming what failed (the log says why).

    `checks` holds only what was really checked; in embedded mode `not_checked` says why Redis and
    the broker are absent rather than reporting them healthy.
    """
    results = check_readiness()
    failing = [name for name, ok in results.items() if not ok]
    body: dict[str, object] = {
        "ready": not failing,
        "mode": "embedded" if settings.EMBEDDED else "full",
        "checks": results,
        "failing": failing,
    }
    if settings.EMBEDDED:
        body["not_checked"] = EMBEDDED_NOT_CHECKED
    return JsonResponse(body, status=503 if failing else 200)
