"""Business hours: weekly hours in the company's time zone, Brazilian national and state holidays, closed days."""

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from institutional.hours import business_hours_status
from institutional.models import BusinessHours, ClosedDay, OpeningPeriod
from institutional.services import business_hours_seed

pytestmark = pytest.mark.django_db

SP = ZoneInfo("America/Sao_Paulo")


def at(*args) -> datetime:
    return datetime(*args, tzinfo=SP)


@pytest.fixture
def hours():
    return business_hours_seed()  # the demo's: Monday to Friday, 8h to 18h, Brasília time


def test_with_nothing_configured_the_team_counts_as_always_in():
    status = business_hours_status(at=at(2026, 12, 25, 3, 0))
    assert status.is_open and not status.configured and status.customer_note() == ""


@pytest.mark.parametrize(
    ("moment", "is_open", "next_opening"),
    [
        (at(2026, 12, 1, 10, 0), True, None),  # a Tuesday morning
        (at(2026, 12, 1, 7, 59), False, at(2026, 12, 1, 8, 0)),  # before opening: today at 8h
        (at(2026, 12, 1, 18, 0), False, at(2026, 12, 2, 8, 0)),  # closing time: tomorrow
        (at(2026, 12, 5, 11, 0), False, at(2026, 12, 7, 8, 0)),  # Saturday: Monday
        (at(2026, 12, 25, 10, 0), False, at(2026, 12, 28, 8, 0)),  # Christmas (a Friday): Monday 28
        (at(2026, 11, 20, 10, 0), False, at(2026, 11, 23, 8, 0)),  # Consciência Negra, national since 2024
    ],
)
def test_open_or_closed_and_the_next_opening(hours, moment, is_open, next_opening):
    status = business_hours_status(at=moment)
    assert status.is_open is is_open
    assert status.next_opening == next_opening


def test_the_time_zone_is_the_companys_not_the_servers(hours):
    # 12:30 UTC is 09:30 in São Paulo (open); 21:30 UTC is 18:30 there (closed).
    assert business_hours_status(at=datetime(2026, 12, 1, 12, 30, tzinfo=ZoneInfo("UTC"))).is_open
    assert not business_hours_status(at=datetime(2026, 12, 1, 21, 30, tzinfo=ZoneInfo("UTC"))).is_open


def test_a_holiday_names_itself_and_says_the_next_opening(hours):
    status = business_hours_status(at=at(2026, 12, 25, 10, 0))
    assert status.holiday == "Natal"
    assert status.next_opening_text() == "segunda-feira, 28/12, às 08:00"
    # Within a week the weekday names the day: no date the output guard would read as a deadline.
    assert status.customer_note() == (
        "No momento hoje é feriado (Natal): uma pessoa da equipe responde a partir de segunda-feira, às 08:00."
    )
    assert "indisponível" in status.prompt_line() and "28/12" in status.prompt_line()


def test_state_holidays_count_only_for_the_chosen_state(hours):
    revolution_day = at(2026, 7, 9, 10, 0)  # São Paulo's Revolução Constitucionalista, a Thursday
    assert business_hours_status(at=revolution_day).is_open
    BusinessHours.objects.filter(pk=hours.pk).update(state="SP")
    status = business_hours_status(at=revolution_day)
    assert not status.is_open and status.holiday == "Revolução Constitucionalista"
    assert status.next_opening == at(2026, 7, 10, 8, 0)


def test_extra_closed_days_and_a_lunch_break(hours):
    ClosedDay.objects.create(hours=hours, date=date(2026, 12, 1), reason="inventário")
    status = business_hours_status(at=at(2026, 12, 1, 10, 0))
    assert not status.is_open and status.closed_reason == "inventário"
    assert status.next_opening == at(2026, 12, 2, 8, 0)
    OpeningPeriod.objects.filter(weekday=2).update(closes_at=time(12, 0))
    OpeningPeriod.objects.create(hours=hours, weekday=2, opens_at=time(13, 0), closes_at=time(18, 0))
    assert business_hours_status(at=at(2026, 12, 2, 12, 30)).next_opening == at(2026, 12, 2, 13, 0)


def test_a_team_that_works_on_holidays(hours):
    BusinessHours.objects.filter(pk=hours.pk).update(observe_national_holidays=False)
    assert business_hours_status(at=at(2026, 12, 25, 10, 0)).is_open


def test_the_seed_keeps_the_product_teams_own_hours(hours):
    OpeningPeriod.objects.filter(weekday=4).delete()
    business_hours_seed()
    assert not OpeningPeriod.objects.filter(weekday=4).exists()
    business_hours_seed(reset=True)
    assert OpeningPeriod.objects.filter(weekday=4).count() == 1


def test_the_admin_edits_hours_and_shows_the_state_now(admin_client, hours):
    page = admin_client.get(reverse("admin:institutional_businesshours_change", args=[hours.pk])).content.decode()
    assert "segunda-feira" in page and "America/Sao_Paulo" in page
    assert "Próxima abertura" in page or "Aberto." in page


# --- The SLA's clock: waiting counted in opening hours only ----------------------------------------


@pytest.mark.parametrize(
    ("start", "until", "hours_counted", "answer_from"),
    [
        (at(2026, 12, 1, 10, 0), at(2026, 12, 1, 11, 30), 1.5, None),  # Tuesday morning, within hours
        (at(2026, 12, 1, 17, 0), at(2026, 12, 2, 9, 0), 2.0, None),  # 1 h Tuesday evening + 1 h Wednesday
        # Friday 20:00 to Monday 09:00: only Monday's first hour counts; the customer was told Monday 08:00.
        (at(2026, 12, 4, 20, 0), at(2026, 12, 7, 9, 0), 1.0, at(2026, 12, 7, 8, 0)),
        # Christmas Eve 17:00 to Monday 28 at 08:30: 1 h on the 24th, Christmas closed, then 30 min.
        (at(2026, 12, 24, 17, 0), at(2026, 12, 28, 8, 30), 1.5, None),
        (at(2026, 12, 25, 10, 0), at(2026, 12, 25, 16, 0), 0.0, at(2026, 12, 28, 8, 0)),  # all on a holiday
    ],
)
def test_a_wait_counts_only_opening_hours(hours, start, until, hours_counted, answer_from):
    from institutional.hours import business_waits

    (wait,) = business_waits([start], until=until)
    assert wait.seconds == pytest.approx(hours_counted * 3600)
    assert wait.answer_from == answer_from


def test_a_closed_day_and_a_lunch_break_do_not_count(hours):
    from institutional.hours import business_waits

    ClosedDay.objects.create(hours=hours, date=date(2026, 12, 2), reason="Inventário")
    OpeningPeriod.objects.filter(weekday=0).delete()
    OpeningPeriod.objects.create(hours=hours, weekday=0, opens_at=time(8), closes_at=time(12))
    OpeningPeriod.objects.create(hours=hours, weekday=0, opens_at=time(13), closes_at=time(18))
    # Tuesday 17:00 → Thursday 09:00: 1 h Tuesday, Wednesday closed, 1 h Thursday.
    assert business_waits([at(2026, 12, 1, 17, 0)], until=at(2026, 12, 3, 9, 0))[0].seconds == 2 * 3600
    # Monday 11:00 → 14:00: the lunch hour does not count.
    assert business_waits([at(2026, 12, 7, 11, 0)], until=at(2026, 12, 7, 14, 0))[0].seconds == 2 * 3600
    assert business_waits([at(2026, 12, 2, 10, 0)], until=at(2026, 12, 2, 11, 0))[0].answer_from == at(
        2026, 12, 3, 8, 0
    )


def test_with_no_hours_configured_every_second_counts():
    from institutional.hours import business_waits

    assert business_waits([at(2026, 12, 5, 10, 0)], until=at(2026, 12, 5, 12, 0))[0].seconds == 2 * 3600
    assert business_waits([], until=at(2026, 12, 5, 12, 0)) == []


def test_an_opening_a_week_or_more_away_keeps_its_date_in_the_customers_note(hours):
    for day in range(7, 19):  # a recess from Monday the 7th to Friday the 18th
        ClosedDay.objects.create(hours=hours, date=date(2026, 12, day), reason="recesso")
    status = business_hours_status(at=at(2026, 12, 4, 19, 0))  # Friday evening
    assert status.next_opening == at(2026, 12, 21, 8, 0)
    assert status.customer_note("en").endswith("from Monday 21/12 at 08:00.")


def test_every_run_reads_the_calendar_in_one_statement(hours, django_assert_num_queries):
    ClosedDay.objects.create(hours=hours, date=date(2026, 12, 1), reason="inventário")
    with django_assert_num_queries(1):
        status = business_hours_status(at=at(2026, 12, 1, 10, 0))
    assert status.closed_reason == "inventário" and status.next_opening == at(2026, 12, 2, 8, 0)


def test_a_closed_day_counts_on_the_companys_date_where_utc_is_already_tomorrow(hours):
    # 23:30 in Honolulu on Monday the 30th is 09:30 UTC on Tuesday: Monday's closed day is the one that counts.
    BusinessHours.objects.filter(pk=hours.pk).update(time_zone="Pacific/Honolulu")
    OpeningPeriod.objects.filter(weekday=0).update(opens_at=time(0, 0), closes_at=time(23, 59))
    ClosedDay.objects.create(hours=hours, date=date(2026, 11, 30), reason="recesso")
    honolulu = ZoneInfo("Pacific/Honolulu")
    status = business_hours_status(at=datetime(2026, 11, 30, 23, 30, tzinfo=honolulu))
    assert not status.is_open and status.closed_reason == "recesso"
    assert status.next_opening == datetime(2026, 12, 1, 8, 0, tzinfo=honolulu)
