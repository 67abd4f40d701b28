"""Liveness (`/healthz`) and readiness (`/readyz`: database, migrations, Redis, broker) endpoints."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache

from pyloto.readiness import check_readiness


@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    """200 while the process runs; no dependency is consulted."""
    return HttpResponse("ok", content_type="text/plain")


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """200 when every dependency answers, else 503 naming what failed (the log says why)."""
    results = check_readiness()
    failing = [name for name, ok in results.items() if not ok]
    return JsonResponse({"ready": not failing, "checks": results, "failing": failing}, status=503 if failing else 200)
