"""Filters the dashboard templates use: a KPI's value written the way the admin's KPIs page writes it."""

from django import template

from conversations.admin_kpis import _format
from conversations.kpis import KPICheck

register = template.Library()


@register.filter
def kpi_value(check: KPICheck) -> str:
    return _format(check.value, check.unit)
