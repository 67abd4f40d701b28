"""Business hours: is the team in now, and when does it next open (weekly hours, Brazilian holidays, closed days)?

`business_hours_status(at=...)` is the one read every caller uses — the pipeline's prompts, the
handoff notice, the offline answerer, the staff queue. National holidays come from the `holidays`
library's Brazilian calendar (plus the state's, when one is chosen in the admin); the product team
adds extra closed days. Times are the company's time zone. With no weekly hours configured the team
counts as always in, so nothing changes until someone sets them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
from django.db import connection
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
        "{weekday}, às {time}",
    ),
    "en": (
        "today is a public holiday ({holiday})",
        "we are outside our business hours",
        "Right now {why}: a person from our team will answer from {when}.",
        "{weekday} {date} at {time}",
        "{weekday} at {time}",
    ),
    "es": (
        "hoy es feriado ({holiday})",
        "estamos fuera del horario de atención",
        "En este momento {why}: una persona del equipo responde a partir del {when}.",
        "{weekday} {date} a las {time}",
        "{weekday} a las {time}",
    ),
}


# Within a week the weekday alone names the day: the customer's note then carries no date, which the
# output guard would read as a deadline the published content does not hold.
WEEKDAY_NAMES_THE_DAY = timedelta(days=6)


def opening_text(moment: datetime | None, language: str = "pt", *, dated: bool = True) -> str:
    """'segunda-feira, 28/12, às 08:00' (in the company's time zone, as `moment` is given); '' for None.

    `dated=False`: 'segunda-feira, às 08:00'.
    """
    if moment is None:
        return ""
    language = language if language in NOTE else "pt"
    return NOTE[language][3 if dated else 4].format(
        weekday=WEEKDAYS[language][moment.weekday()], date=moment.strftime("%d/%m"), time=moment.strftime("%H:%M")
    )


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
        return opening_text(self.next_opening, language)

    def customer_note(self, language: str = "pt") -> str:
        """What a handoff out of hours tells the customer, in their language (empty when the team is in)."""
        if self.is_open or self.next_opening is None:
            return ""
        language = language if language in NOTE else "pt"
        holiday_phrase, hours_phrase, sentence, *_when = NOTE[language]
        why = holiday_phrase.format(holiday=self.holiday) if self.holiday else hours_phrase
        dated = self.next_opening.date() - self.at.date() > WEEKDAY_NAMES_THE_DAY
        return sentence.format(why=why, when=opening_text(self.next_opening, language, dated=dated))

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


@dataclass(frozen=True)
class _Calendar:
    """The configured week, holidays and closed days from `first` to `last` (dates in `zone`), read once."""

    zone: ZoneInfo
    state: str
    observe_holidays: bool
    by_weekday: dict[int, list[tuple[time, time]]]
    closed_days: dict[date, str]

    def day_closure(self, day: date) -> tuple[str, str]:
        """(holiday name, other reason) when the whole day is closed."""
        holiday = _holiday_name(day, state=self.state) if self.observe_holidays else ""
        return holiday, self.closed_days.get(day, "")

    def periods_on(self, day: date) -> list[tuple[datetime, datetime]]:
        """The day's opening periods as aware instants; none on a holiday or a closed day."""
        if any(self.day_closure(day)):
            return []
        return [
            (datetime.combine(day, opens, tzinfo=self.zone), datetime.combine(day, closes, tzinfo=self.zone))
            for opens, closes in sorted(self.by_weekday.get(day.weekday(), []))
        ]


def _calendar_sql() -> str:
    hours, period, closed = BusinessHours._meta.db_table, OpeningPeriod._meta.db_table, ClosedDay._meta.db_table
    # Periods of every row (there is one) as parallel arrays; closed days within the dates asked for.
    return (
        f"SELECT h.time_zone, h.state, h.observe_national_holidays, "  # noqa: S608 - the models' own table names
        f"ARRAY(SELECT weekday FROM {period} ORDER BY id), ARRAY(SELECT opens_at FROM {period} ORDER BY id), "
        f"ARRAY(SELECT closes_at FROM {period} ORDER BY id), "
        f"ARRAY(SELECT date FROM {closed} WHERE date BETWEEN %s AND %s ORDER BY date), "
        f"ARRAY(SELECT reason FROM {closed} WHERE date BETWEEN %s AND %s ORDER BY date) "
        f"FROM {hours} h WHERE h.id = %s"
    )


def _calendar_row(start: date, end: date) -> tuple | None:
    """The settings row's fields, the week's periods and the closed days in `start`..`end`, as one tuple.

    PostgreSQL reads them in one statement. SQLite (`make run`'s database when DATABASE_URL is unset)
    has no ARRAY(): the ORM reads the same in three.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_calendar_sql(), [start, end, start, end, BusinessHours.SINGLETON_ID])
            return cursor.fetchone()
    settings_row = BusinessHours.objects.filter(pk=BusinessHours.SINGLETON_ID).first()
    if settings_row is None:
        return None
    periods = list(OpeningPeriod.objects.order_by("id").values_list("weekday", "opens_at", "closes_at"))
    closed = list(ClosedDay.objects.filter(date__range=(start, end)).order_by("date").values_list("date", "reason"))
    return (
        settings_row.time_zone,
        settings_row.state,
        settings_row.observe_national_holidays,
        [weekday for weekday, _opens, _closes in periods],
        [opens for _weekday, opens, _closes in periods],
        [closes for _weekday, _opens, closes in periods],
        [day for day, _reason in closed],
        [reason for _day, reason in closed],
    )


# Dates of the closed days read around the local dates asked for: a time zone moves a date by a day at most.
_ZONE_MARGIN = timedelta(days=1)


def _calendar(first: datetime, last: datetime) -> _Calendar | None:
    """The calendar covering `first`..`last` (+ the search horizon); None when no weekly hours are set.

    One statement, not three (the settings row, the week, the closed days): every run's launch reads it.
    """
    start = first.astimezone(UTC).date() - _ZONE_MARGIN
    end = last.astimezone(UTC).date() + _ZONE_MARGIN + timedelta(days=SEARCH_DAYS)
    row = _calendar_row(start, end)
    if row is None:
        return None
    time_zone, state, observe_holidays, weekdays, opens, closes, closed_dates, reasons = row
    if not weekdays:
        return None
    zone = ZoneInfo(time_zone)
    start, end = first.astimezone(zone).date(), last.astimezone(zone).date() + timedelta(days=SEARCH_DAYS)
    by_weekday: dict[int, list[tuple[time, time]]] = {}
    for weekday, opens_at, closes_at in zip(weekdays, opens, closes, strict=True):
        by_weekday.setdefault(weekday, []).append((opens_at, closes_at))
    return _Calendar(
        zone=zone,
        state=state,
        observe_holidays=observe_holidays,
        by_weekday=by_weekday,
        closed_days={
            day: reason or _("dia sem atendimento")
            for day, reason in zip(closed_dates, reasons, strict=True)
            if start <= day <= end
        },
    )


def business_hours_status(*, at: datetime | None = None) -> BusinessHoursStatus:
    """Is the team in at `at` (default now), and if not, why and when does it next open?"""
    at = at or timezone.now()
    calendar = _calendar(at, at)
    if calendar is None:
        return BusinessHoursStatus(is_open=True, at=at, configured=False)
    return _status(calendar, at)


def _status(calendar: _Calendar, at: datetime) -> BusinessHoursStatus:
    local = at.astimezone(calendar.zone)
    for opens, closes in calendar.periods_on(local.date()):
        if opens <= local < closes:
            return BusinessHoursStatus(is_open=True, at=at, closes_at=closes)
    holiday, closed = calendar.day_closure(local.date())
    reason = closed or (_("fora do horário de atendimento") if not holiday else "")
    return BusinessHoursStatus(
        is_open=False, at=at, closed_reason=reason, holiday=holiday, next_opening=_next_opening(calendar, local)
    )


def _next_opening(calendar: _Calendar, local: datetime) -> datetime | None:
    for offset in range(SEARCH_DAYS + 1):
        for opens, _closes in calendar.periods_on(local.date() + timedelta(days=offset)):
            if opens > local:
                return opens
    return None


@dataclass(frozen=True)
class BusinessWait:
    """How long someone has waited since `since`, counted in opening hours only (the SLA's clock).

    `answer_from` is the opening after `since` when it fell out of hours: what the customer was told.
    """

    since: datetime
    seconds: float
    answer_from: datetime | None = None

    @property
    def answer_from_text(self) -> str:
        return opening_text(self.answer_from)


def business_waits(starts: list[datetime], *, until: datetime | None = None) -> list[BusinessWait]:
    """For each start, the opening-hours seconds from it to `until` (default now): one calendar read for all.

    With no weekly hours configured every second counts (the team is always in).
    """
    until = until or timezone.now()
    if not starts:
        return []
    calendar = _calendar(min(starts), until)
    if calendar is None:
        return [BusinessWait(since=start, seconds=max(0.0, (until - start).total_seconds())) for start in starts]
    return [_business_wait(calendar, start, until) for start in starts]


def _business_wait(calendar: _Calendar, start: datetime, until: datetime) -> BusinessWait:
    status = _status(calendar, start)
    first, last = start.astimezone(calendar.zone).date(), until.astimezone(calendar.zone).date()
    seconds = 0.0
    for offset in range((last - first).days + 1):
        for opens, closes in calendar.periods_on(first + timedelta(days=offset)):
            overlap = (min(closes, until) - max(opens, start)).total_seconds()
            seconds += max(0.0, overlap)
    return BusinessWait(since=start, seconds=seconds, answer_from=None if status.is_open else status.next_opening)
