"""The DRF API under /api/: each app contributes its routes here."""

urlpatterns: list = []
