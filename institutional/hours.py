"""Business hours: is the team in now, and when does it next open (weekly hours, Brazilian holidays, closed days)?

`business_hours_status(at=...)` is the one read every caller uses — the pipeline's prompts, the
handoff notice, the offline answerer, the staff queue. National holidays come from the `holidays`
library's Brazilian calendar (plus the state's, when one is chosen in the admin); the product team
adds extra closed days. Times are the company's time zone. With no weekly hours configured the team
counts as always in, so nothing changes until someone sets them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
from django.utils import timezone
from django.utils.translation import gettext as _

from institutional.models import BusinessHours, ClosedDay, OpeningPeriod

# How far ahead to look for the next opening (a long recess plus its weekends).
SEARCH_DAYS = 60
WEEKDAYS = {
    "pt": ["segunda-feira", "terça-feira", "quarta-feira", "quinta-feira", "sexta-feira", "sábado", "domingo"],
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    "es": ["lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"],
}
# The customer-facing sentence in the languages the assistant answers in (Portuguese for any other).
NOTE = {
    "pt": (
        "hoje é feriado ({holiday})",
        "estamos fora do horário de atendimento",
        "No momento {why}: uma pessoa da equipe responde a partir de {when}.",
        "{weekday}, {date}, às {time}",
    ),
    "en": (
        "today is a public holiday ({holiday})",
        "we are outside our business hours",
        "Right now {why}: a person from our team will answer from {when}.",
        "{weekday} {date} at {time}",
    ),
    "es": (
        "hoy es feriado ({holiday})",
        "estamos fuera del horario de atención",
        "En este momento {why}: una persona del equipo responde a partir del {when}.",
        "{weekday} {date} a las {time}",
    ),
}


@dataclass(frozen=True)
class BusinessHoursStatus:
    """Whether the team is in at `at`, why not, and when it next opens (aware, in the company's time zone)."""

    is_open: bool
    at: datetime
    configured: bool = True
    closed_reason: str = ""
    holiday: str = ""
    next_opening: datetime | None = None
    closes_at: datetime | None = None

    def next_opening_text(self, language: str = "pt") -> str:
        """'segunda-feira, 28/12, às 08:00' — how customers and staff read the next opening."""
        if self.next_opening is None:
            return ""
        moment = self.next_opening
        language = language if language in NOTE else "pt"
        return NOTE[language][3].format(
            weekday=WEEKDAYS[language][moment.weekday()], date=moment.strftime("%d/%m"), time=moment.strftime("%H:%M")
        )

    def customer_note(self, language: str = "pt") -> str:
        """What a handoff out of hours tells the customer, in their language (empty when the team is in)."""
        if self.is_open or self.next_opening is None:
            return ""
        language = language if language in NOTE else "pt"
        holiday_phrase, hours_phrase, sentence, _when = NOTE[language]
        why = holiday_phrase.format(holiday=self.holiday) if self.holiday else hours_phrase
        return sentence.format(why=why, when=self.next_opening_text(language))

    def prompt_line(self) -> str:
        """One line for the LLM prompts' context."""
        if self.is_open:
            return _("Equipe humana: disponível agora.")
        return _("Equipe humana: indisponível agora (%(why)s); próxima abertura: %(when)s.") % {
            "why": self.holiday or self.closed_reason,
            "when": self.next_opening_text() or _("sem horário definido"),
        }


@lru_cache(maxsize=64)
def _holiday_calendar(state: str, year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("BR", subdiv=state or None, years=year, language="pt_BR")


def _holiday_name(day: date, *, state: str) -> str:
    return str(_holiday_calendar(state, day.year).get(day) or "")


def business_hours_status(*, at: datetime | None = None) -> BusinessHoursStatus:
    """Is the team in at `at` (default now), and if not, why and when does it next open?"""
    at = at or timezone.now()
    settings_row = BusinessHours.objects.filter(pk=BusinessHours.SINGLETON_ID).first()
    periods = list(OpeningPeriod.objects.all()) if settings_row else []
    if settings_row is None or not periods:
        return BusinessHoursStatus(is_open=True, at=at, configured=False)
    zone = ZoneInfo(settings_row.time_zone)
    local = at.astimezone(zone)
    closed_days = {
        row.date: row.reason or _("dia sem atendimento")
        for row in ClosedDay.objects.filter(
            date__gte=local.date(), date__lte=local.date() + timedelta(days=SEARCH_DAYS)
        )
    }
    by_weekday: dict[int, list[tuple[time, time]]] = {}
    for period in periods:
        by_weekday.setdefault(period.weekday, []).append((period.opens_at, period.closes_at))

    def day_closure(day: date) -> tuple[str, str]:
        """(holiday name, other reason) when the whole day is closed."""
        holiday = _holiday_name(day, state=settings_row.state) if settings_row.observe_national_holidays else ""
        return holiday, closed_days.get(day, "")

    holiday, closed = day_closure(local.date())
    if not holiday and not closed:
        for opens, closes in sorted(by_weekday.get(local.weekday(), [])):
            if opens <= local.time() < closes:
                return BusinessHoursStatus(
                    is_open=True, at=at, closes_at=datetime.combine(local.date(), closes, tzinfo=zone)
                )
    reason = closed or (_("fora do horário de atendimento") if not holiday else "")
    return BusinessHoursStatus(
        is_open=False,
        at=at,
        closed_reason=reason,
        holiday=holiday,
        next_opening=_next_opening(local, by_weekday=by_weekday, day_closure=day_closure),
    )


def _next_opening(local: datetime, *, by_weekday, day_closure) -> datetime | None:
    for offset in range(SEARCH_DAYS + 1):
        day = local.date() + timedelta(days=offset)
        if any(day_closure(day)):
            continue
        for opens, _closes in sorted(by_weekday.get(day.weekday(), [])):
            start = datetime.combine(day, opens, tzinfo=local.tzinfo)
            if start > local:
                return start
    return None
