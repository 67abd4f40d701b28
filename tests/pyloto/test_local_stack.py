"""What `make run` settles before starting processes: the fake answering, no tasks of another database."""

import subprocess
import sys

import pytest
import redis
from django.conf import settings

from pyloto.local_stack import (
    BROKER_DATABASE_KEY,
    StackStartError,
    database_identity,
    drop_tasks_of_another_database,
    wait_until_answering,
)
from pyloto.pipeline.tasks import send_reply
from pyloto.queues import Queue
from tests.support import queued_tasks


@pytest.fixture
def broker():
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    yield client
    client.close()


def _queued(broker) -> int:
    return sum(len(queued_tasks(queue)) for queue in Queue)


def test_a_task_queued_for_another_database_is_dropped_and_the_marker_names_this_one(broker):
    broker.set(BROKER_DATABASE_KEY, "django.db.backends.postgresql|127.0.0.1|5432|some_other_database")
    send_reply.delay(1)
    assert _queued(broker) == 1

    assert drop_tasks_of_another_database() == 1

    assert _queued(broker) == 0
    assert broker.get(BROKER_DATABASE_KEY).decode() == database_identity(settings.DATABASES["default"])


def test_tasks_of_unknown_origin_are_dropped_too(broker):
    send_reply.delay(1)
    broker.hset("unacked", "tag-1", b"{}")  # delivered to a worker of an earlier run, never acknowledged

    assert drop_tasks_of_another_database() == 2

    assert _queued(broker) == 0
    assert not broker.exists("unacked")


def test_tasks_queued_for_this_database_are_kept(broker):
    drop_tasks_of_another_database()
    send_reply.delay(1)

    assert drop_tasks_of_another_database() == 0

    assert _queued(broker) == 1


def test_another_database_name_is_another_identity_and_credentials_are_not_part_of_it():
    db = settings.DATABASES["default"]
    with_credentials = {**db, "USER": "who", "PASSWORD": "s3cret-pw"}
    assert database_identity(with_credentials) == database_identity(db)
    assert "s3cret-pw" not in database_identity(with_credentials)
    assert database_identity({**db, "NAME": "pyloto_elsewhere"}) != database_identity(db)


def test_a_fake_that_dies_at_start_up_is_reported_with_its_exit_code():
    dead = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    dead.wait(timeout=30)
    with pytest.raises(StackStartError, match="exited with code 3"):
        wait_until_answering("http://127.0.0.1:9/", dead)
