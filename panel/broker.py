"""Celery's broker transport: kombu's Redis transport, whose channels outlive a lost connection.

When a worker loses Redis, Celery 5.7 collects the broker connection, which detaches the transport from the
connection's parameters (``transport.client = None``), and then closes it once more. That second close puts
back the channel's unacknowledged messages (the tasks running with ``acks_late``) and asks for the parameters
again: kombu read ``None.hostname`` and the worker died of
``AttributeError("'NoneType' object has no attribute 'hostname'")``, every time Redis restarted while a task
ran. A channel here keeps the parameters it was opened with, so that the close fails as a connection error
(ignored) while Redis is down, and the acknowledgement of a task that ran through the outage reaches Redis
once it is back instead of leaving the message in Redis' unacked set to be delivered again.
"""

from __future__ import annotations

from kombu import Connection
from kombu.transport import redis as kombu_redis
from redis import exceptions as redis_exceptions


class Channel(kombu_redis.Channel):
    def __init__(self, connection: kombu_redis.Transport, *args: object, **kwargs: object) -> None:
        self._opened_with: Connection = connection.client
        super().__init__(connection, *args, **kwargs)

    def _connparams(self, asynchronous: bool = False) -> dict:
        if self.connection is None:  # closed: its messages were put back or stay in the unacked set
            raise redis_exceptions.ConnectionError("this channel to the broker is closed")
        if self.connection.client is None:  # the connection was collected after it was lost
            self.connection.client = self._opened_with
        return super()._connparams(asynchronous=asynchronous)


class Transport(kombu_redis.Transport):
    Channel = Channel
