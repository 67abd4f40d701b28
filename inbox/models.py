"""The inbox's own permission: holding it lets a person open `/inbox/` (handling still needs its own)."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class InboxAccess(models.Model):
    """No table: the model exists only to carry the `inbox.use_inbox` permission."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("use_inbox", _("Can work the staff inbox"))]
        verbose_name = _("inbox access")
        verbose_name_plural = _("inbox access")

    def __str__(self) -> str:
        return str(self._meta.verbose_name)
