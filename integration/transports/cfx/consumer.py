"""The CFX consumer: AMQP 1.0 deliveries written through the ingestion service, then settled.

python-qpid-proton's Container, with link credit (`CFX_PREFETCH`) so many deliveries
arrive together. The Container's reactor thread is the only one that touches links
and deliveries: it collects deliveries as they arrive and hands them, up to
`CFX_GROUP_SIZE` at a time, to a writer thread, which writes each group in one call
of the ingestion service (integration/transports/cfx/ingest.py) and hands the outcome back
through an EventInjector; the reactor then accepts the group's deliveries. While a
group is written, the reactor keeps receiving, so under load the next group is
ready as soon as the writer is (measured: writing on the reactor thread gave groups
of a few messages and a sixth of the throughput, docs/cfx.md). A lone delivery waits
at most `CFX_GROUP_WAIT_MS` for company.

When the connection ends, whatever ends it, the consumer connects again after a pause.
When the database cannot take a group, its deliveries and every other one received
are released (the broker delivers them again), the connection is closed, and the
consumer checks the database every `CFX_OUTAGE_PAUSE_S` (doubling up to a minute)
and connects again once it answers. A malformed message is accepted, logged and
counted: it would never succeed.
"""

import logging
import queue
import signal
import threading
import time

from django.db import DatabaseError
from proton import SSLDomain
from proton.handlers import MessagingHandler
from proton.reactor import ApplicationEvent, Container, EventInjector
from structlog.contextvars import bind_contextvars, clear_contextvars

from integration.transports.broker import DatabaseUnavailable, database_reachable
from integration.transports.cfx.config import CfxConfig
from integration.transports.cfx.ingest import Delivery, GatewayRefused, cfx_sender, write_group
from integration.transports.cfx.stats import CfxStats

logger = logging.getLogger("integration.cfx")

LONGEST_OUTAGE_PAUSE_S = 60.0
FIRST_RECONNECT_PAUSE_S, LONGEST_RECONNECT_PAUSE_S = 1.0, 30.0
TICK_S = 0.2  # how often the reactor looks at signals and the stats line


class _Timer:
    """A reactor timer calling `action` (proton calls `on_timer_task` of its handler)."""

    def __init__(self, action):
        self.action = action

    def on_timer_task(self, event):
        self.action()


class CfxConsumer(MessagingHandler):
    """One consumer process's link to the broker and its write loop, on the reactor."""

    def __init__(self, config: CfxConfig):
        # Credit is given here, not by proton's flow controller: it tops the credit up as
        # deliveries arrive, so unsettled deliveries would pile up without bound, and the
        # first consumer of a full queue would take all of it.
        super().__init__(prefetch=0, auto_accept=False)
        self.config = config
        self.stats = CfxStats()
        self.stopping = False
        self.stats_wanted = False
        self.failed: str | None = None  # why the consumer stopped on its own
        self.container: Container | None = None
        self.connection = None
        self.receiver = None
        self._pending: list[Delivery] = []
        self._flush_timer = None
        self._writing: list[Delivery] | None = None  # the group the writer has
        self._closing = False
        self._groups: queue.Queue = queue.Queue()  # to the writer thread
        self._injector = EventInjector()  # from the writer thread, back to the reactor
        self._generation = 0  # +1 on each (dis)connection: older deliveries are stale
        self._outage_pause = config.outage_pause_s
        self._reconnect_pause = FIRST_RECONNECT_PAUSE_S
        self._next_line = time.monotonic() + config.stats_interval_s

    # Start, stop, connection.

    def run(self) -> None:
        """Consume until SIGTERM (or SIGINT); what was received is written and settled first."""
        self._install_signal_handlers()
        threading.Thread(target=self._write_groups, name="cfx-writer", daemon=True).start()
        container = Container(self)
        container.selectable(self._injector)
        container.run()
        self._groups.put(None)
        logger.info("CFX consumer stopped: %s", self.stats.line())
        if self.failed:
            raise RuntimeError(self.failed)

    def _install_signal_handlers(self) -> None:
        def stop(signum, frame):
            self.stopping = True

        def show(signum, frame):
            self.stats_wanted = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGUSR1, show)

    def on_start(self, event):
        self.container = event.container
        try:
            cfx_sender(self.config.gateway)  # refuse to start without the account
        except (GatewayRefused, DatabaseError) as error:
            self.failed = str(error)
            logger.error("%s", error)
            self._injector.close()  # nothing else keeps the container running
            return
        self._connect()
        self.container.schedule(TICK_S, _Timer(self._tick))

    def _connect(self) -> None:
        config = self.config
        options = {"sasl_enabled": True, "allowed_mechs": "PLAIN" if config.username else None}
        if config.username:
            options.update(user=config.username, password=config.password)
        if config.tls:
            domain = SSLDomain(SSLDomain.MODE_CLIENT)
            if config.ca_file:
                domain.set_trusted_ca_db(config.ca_file)
            domain.set_peer_authentication(SSLDomain.VERIFY_PEER_NAME, config.ca_file)
            if config.cert_file:
                domain.set_credentials(config.cert_file, config.key_file, None)
            options["ssl_domain"] = domain
        self.connection = self.container.connect(
            config.url, heartbeat=30, reconnect=False, **options
        )
        self.receiver = self.container.create_receiver(self.connection, config.address)

    def on_link_opened(self, event):
        if event.receiver is not None and event.receiver == self.receiver:
            # At most CFX_PREFETCH deliveries unsettled: more as they are settled.
            event.receiver.flow(max(0, self.config.prefetch - event.receiver.credit))
            self._outage_pause = self.config.outage_pause_s
            self._reconnect_pause = FIRST_RECONNECT_PAUSE_S
            logger.info("CFX consumer reads %s", self.config.shown_url)

    # Whatever ends the connection (the broker closes it or the link, the socket drops),
    # the consumer connects again itself: proton's own reconnect is off.

    def on_connection_error(self, event):
        self._closed_by_broker(event.connection, event.connection.remote_condition)

    def on_connection_closing(self, event):
        self._closed_by_broker(event.connection, "closed")

    def on_session_error(self, event):
        # RabbitMQ 3.x's plugin ends the session when its connection is closed.
        self._closed_by_broker(event.connection, event.session.remote_condition)

    def on_session_closing(self, event):
        self._closed_by_broker(event.connection, "session ended")

    def on_link_error(self, event):
        self._closed_by_broker(event.connection, event.link.remote_condition)

    def on_link_closing(self, event):
        self._closed_by_broker(event.connection, "link closed")

    def _closed_by_broker(self, connection, why) -> None:
        """The connection is gone (the broker restarted or closed it, a queue was deleted, the
        network dropped): the consumer connects again after a pause (1 s, doubling up to
        30 s). Deliveries not settled are the broker's again."""
        if self.connection is None or connection != self.connection:
            return  # an old connection, or one already given up
        if self.stopping or self.failed:
            return
        self._generation += 1
        self._drop(self._pending)
        self._pending = []
        self._close()
        logger.warning(
            "The CFX consumer lost the broker (%s); connecting again in %.0f s",
            why,
            self._reconnect_pause,
        )
        self.container.schedule(self._reconnect_pause, _Timer(self._connect_again))
        self._reconnect_pause = min(self._reconnect_pause * 2, LONGEST_RECONNECT_PAUSE_S)

    def _connect_again(self) -> None:
        if not (self.stopping or self.failed) and self.connection is None:
            self._connect()

    def on_transport_error(self, event):
        self._closed_by_broker(event.connection, event.transport.condition)

    def on_disconnected(self, event):
        self._closed_by_broker(event.connection, "disconnected")

    def _tick(self) -> None:
        if self.stats_wanted or time.monotonic() >= self._next_line:
            self.stats_wanted = False
            self._next_line = time.monotonic() + self.config.stats_interval_s
            logger.info("CFX consumer: %s", self.stats.line())
        if self.stopping:
            # What was received is written and settled first (on_cfx_written closes).
            self._closing = True
            if self._writing is None:
                self._flush()
            if self._writing is None:
                self._finish()
            return
        self.container.schedule(TICK_S, _Timer(self._tick))

    def _close(self) -> None:
        if self.receiver is not None:
            self.receiver.close()
        if self.connection is not None:
            self.connection.close()
        self.receiver = self.connection = None

    def _finish(self) -> None:
        self._close()
        self._injector.close()

    # Deliveries.

    def on_message(self, event):
        message = event.message
        body = message.body
        if isinstance(body, memoryview):
            # A view of proton's buffer, which the next message overwrites: copied now.
            body = body.tobytes()
        delivery = Delivery(body, message.content_encoding, event.delivery)
        delivery.generation = self._generation
        self.stats.note_received(delivery)
        self._pending.append(delivery)
        if self._writing is not None:
            return  # the writer takes them when it is done
        if len(self._pending) >= self.config.group_size:
            self._flush()
        elif self._flush_timer is None:
            self._flush_timer = self.container.schedule(
                self.config.group_wait_ms / 1000, _Timer(self._flush)
            )

    def _flush(self) -> None:
        """Hand the waiting deliveries (up to a group) to the writer, if it is free."""
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        if self._writing is not None or self.failed:
            return
        current = [d for d in self._pending if d.generation == self._generation]
        group, self._pending = (
            current[: self.config.group_size],
            current[self.config.group_size :],
        )
        if group:
            self._writing = group
            self._groups.put(group)

    def _write_groups(self) -> None:
        """The writer thread: each group in one call of the ingestion service; the outcome
        (or the error) goes back to the reactor, which alone settles deliveries."""
        while (group := self._groups.get()) is not None:
            clear_contextvars()
            bind_contextvars(consumer="cfx", messages=len(group))
            try:
                result = write_group(group, self.config.gateway)
            except (DatabaseUnavailable, GatewayRefused) as error:
                result = error
            except Exception as error:  # a bug: handed to the reactor, which stops the consumer
                logger.exception("Writing a CFX group failed; nothing of it is settled")
                result = error
            finally:
                clear_contextvars()
            self._injector.trigger(ApplicationEvent("cfx_written", subject=(group, result)))

    def on_cfx_written(self, event):
        group, result = event.subject
        self._writing = None
        if isinstance(result, DatabaseUnavailable):
            self._ride_out_outage(group, result)
        elif isinstance(result, Exception):
            self.failed = str(result)
            if isinstance(result, GatewayRefused):
                logger.error("%s; the CFX consumer stops, nothing of the group is settled", result)
            self._release(group + self._pending)
            self._pending = []
            self._finish()
            return
        else:
            settled = 0
            for delivery, outcome in zip(group, result, strict=True):
                self.stats.note_outcome(outcome)
                if delivery.generation == self._generation:
                    self.accept(delivery.handle)
                    self.stats.note_acknowledged(delivery)
                    settled += 1
                else:
                    self._drop([delivery])  # its connection is gone: the broker has it again
            if settled and self.receiver is not None and not self._closing:
                self.receiver.flow(settled)
        if self._pending:
            self._flush()  # they have waited for the writer already
        if self._closing and self._writing is None:
            self._finish()

    def _drop(self, deliveries) -> None:
        self.stats.note_dropped(deliveries)

    def _release(self, deliveries) -> None:
        """Give deliveries back to the broker unwritten (delivered again, to any consumer)."""
        for delivery in deliveries:
            if delivery.generation == self._generation:
                self.release(delivery.handle, delivered=False)
        self._drop(deliveries)

    def _ride_out_outage(self, group, error: DatabaseUnavailable) -> None:
        """The database cannot take events: settle nothing, give every delivery back, leave
        the broker, and come back once the database answers."""
        self.stats.outages += 1
        waiting = group + self._pending
        self._pending = []
        logger.warning(
            "Database unavailable (%s): %d CFX messages released; reconnecting to the "
            "broker once the database answers",
            error,
            len(waiting),
        )
        self._release(waiting)
        self._generation += 1
        self._close()
        self.container.schedule(self._outage_pause, _Timer(self._after_pause))

    def _after_pause(self) -> None:
        if self.stopping:
            return
        if database_reachable():
            logger.info("Database answers again: the CFX consumer reconnects")
            self._connect()
            return
        self._outage_pause = min(self._outage_pause * 2, LONGEST_OUTAGE_PAUSE_S)
        self.container.schedule(self._outage_pause, _Timer(self._after_pause))
