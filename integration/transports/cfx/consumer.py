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

The consumer stops on its own, with an exit status systemd acts on
(deploy/systemd/mes-cfx@.service), when waiting cannot help: its gateway account is
unknown, disabled or revoked (looked at with every group and every few seconds when
idle), or the broker answers in AMQP 0-9-1 (RabbitMQ 3.x without its AMQP 1.0
plugin) several times in a row: `EXIT_CONFIGURATION_REFUSED`, left down until
someone fixes it; a bug: `EXIT_FAILED`, started again.
"""

import logging
import queue
import signal
import threading
import time

from django.db import DatabaseError
from django.db import connection as database
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
GATEWAY_CHECK_S = 5.0  # how often an idle writer looks at the gateway account
# Answers in AMQP 0-9-1 in a row before the consumer gives up (after 1 + 2 + 4 s of
# pauses): more than a broker's restart, and enabling the plugin needs someone anyway.
PROTOCOL_REFUSALS_BEFORE_EXIT = 4
STOP_GRACE_S = 0.5  # for the close and the releases to reach the broker

# Exit statuses. sysexits.h's EX_CONFIG: the configuration is refused (the gateway
# account, the broker's protocol); systemd does not start it again
# (RestartPreventExitStatus=78): someone must fix it first.
EXIT_CONFIGURATION_REFUSED = 78
EXIT_FAILED = 1  # anything else the consumer stops on: systemd starts it again

# What RabbitMQ answers a protocol header it does not take: its own, AMQP 0-9-1's, as
# proton quotes it in the framing error.
AMQP_0_9_1_HEADER = "AMQP\\x00\\x00\\x09\\x01"


class ConsumerStopped(Exception):
    """The consumer stopped on its own; `exit_status` says whether starting it again helps."""

    def __init__(self, reason: str, exit_status: int):
        super().__init__(reason)
        self.exit_status = exit_status


def protocol_problem(condition, where: str) -> tuple[bool, str | None]:
    """What a transport error says about the peer's protocol: (whether it answered in
    AMQP 0-9-1, a hint for the log), or (False, None) when it is about something else."""
    if condition is None or condition.name != "amqp:connection:framing-error":
        return False, None
    description = condition.description or ""
    if AMQP_0_9_1_HEADER in description:
        return True, (
            f"the broker at {where} does not speak AMQP 1.0 (it answered in AMQP 0-9-1): "
            "enable RabbitMQ's AMQP 1.0 plugin there (`rabbitmq-plugins enable "
            "rabbitmq_amqp1_0`; RabbitMQ 4 speaks AMQP 1.0 without a plugin)"
        )
    if "protocol header" in description:
        # Also a broker that closes at once while it restarts: a question, not a verdict.
        return False, (
            f"the peer at {where} closed before answering in AMQP 1.0: if this lasts, is "
            "CFX_AMQP_URL the broker's AMQP port (amqps:// for its TLS port)?"
        )
    return False, None


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
        self.exit_status = EXIT_FAILED
        self._protocol_refusals = 0  # AMQP 0-9-1 answers in a row
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
            raise ConsumerStopped(self.failed, self.exit_status)

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
        except GatewayRefused as error:
            self._give_up(self._refusal(error, "does not start"), EXIT_CONFIGURATION_REFUSED)
            return
        except DatabaseError as error:
            self._give_up(f"The database does not answer ({error})", EXIT_FAILED)
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
            self._protocol_refusals = 0
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

    def _closed_by_broker(self, connection, why, log=logger.warning) -> None:
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
        log(
            "The CFX consumer lost the broker (%s); connecting again in %.0f s",
            why,
            self._reconnect_pause,
        )
        self.container.schedule(self._reconnect_pause, _Timer(self._connect_again))
        self._reconnect_pause = min(self._reconnect_pause * 2, LONGEST_RECONNECT_PAUSE_S)

    def _connect_again(self) -> None:
        if not (self.stopping or self.failed) and self.connection is None:
            self._connect()

    # Proton reports a socket's end by both of these, in either order; the first one that
    # concerns the current connection counts.

    def on_transport_error(self, event):
        self._transport_ended(event)

    def on_disconnected(self, event):
        self._transport_ended(event)

    def _transport_ended(self, event) -> None:
        if self.connection is None or event.connection != self.connection:
            return
        condition = event.transport.condition if event.transport is not None else None
        if condition is None:
            self._closed_by_broker(event.connection, "disconnected")
            return
        speaks_0_9_1, hint = protocol_problem(condition, f"{self.config.host}:{self.config.port}")
        if hint is None:
            self._closed_by_broker(event.connection, condition)
            return
        if speaks_0_9_1:
            self._protocol_refusals += 1
            if self._protocol_refusals >= PROTOCOL_REFUSALS_BEFORE_EXIT:
                self._give_up(
                    f"{hint[0].upper()}{hint[1:]}, {self._protocol_refusals} times in a row; "
                    f"the CFX consumer stops with status {EXIT_CONFIGURATION_REFUSED}, which "
                    "systemd does not restart: start it again once the plugin is enabled",
                    EXIT_CONFIGURATION_REFUSED,
                )
                return
        log = logger.error if speaks_0_9_1 else logger.warning
        self._closed_by_broker(event.connection, f"{condition}: {hint}", log=log)

    def _tick(self) -> None:
        if self.failed:
            return
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
        # Between connections (a reconnect or outage pause) only a timer, up to a minute
        # away, would keep the reactor running: a stop asked for then ends it now.
        between_connections = self.connection is None
        self._close()
        self._injector.close()
        if self.stopping and between_connections:
            self.container.stop()

    def _give_up(self, reason: str, exit_status: int, group=()) -> None:
        """Stop on its own, at once: what was received (`group` included) is given back
        unwritten, the connection closed, and the process ends with `exit_status` (`run`
        raises)."""
        if self.failed:
            return
        self.failed, self.exit_status = reason, exit_status
        logger.error("%s", reason)
        self._release([*group, *(self._writing or []), *self._pending])
        self._pending = []
        self._finish()
        # Pending reconnect or outage timers would keep the reactor running: stopped after a
        # moment, time for the close and the releases to reach the broker.
        self.container.schedule(STOP_GRACE_S, _Timer(self.container.stop))

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
        (or the error) goes back to the reactor, which alone settles deliveries. When no
        group comes for a while, it looks at the gateway account."""
        while True:
            try:
                group = self._groups.get(timeout=GATEWAY_CHECK_S)
            except queue.Empty:
                self._check_gateway()
                continue
            if group is None:
                return
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

    def _check_gateway(self) -> None:
        """On the writer thread, idle: a gateway revoked while no message comes stops the
        consumer too. A database that does not answer is left to the next group."""
        try:
            cfx_sender(self.config.gateway)
        except GatewayRefused as error:
            self._injector.trigger(ApplicationEvent("cfx_gateway_refused", subject=error))
        except DatabaseError:
            database.close()  # a fresh connection next time

    def on_cfx_gateway_refused(self, event):
        if not self.stopping:
            self._give_up(self._refusal(event.subject), EXIT_CONFIGURATION_REFUSED)

    @staticmethod
    def _refusal(error: GatewayRefused, what: str = "stops") -> str:
        return (
            f"{error}. The CFX consumer {what} (status {EXIT_CONFIGURATION_REFUSED}, which "
            "systemd does not restart): start it again once the account is fixed; messages not "
            "written stay at the broker"
        )

    def on_cfx_written(self, event):
        group, result = event.subject
        self._writing = None
        if isinstance(result, DatabaseUnavailable):
            self._ride_out_outage(group, result)
        elif isinstance(result, GatewayRefused):
            self._give_up(self._refusal(result), EXIT_CONFIGURATION_REFUSED, group)
            return
        elif isinstance(result, Exception):  # a bug, logged with its traceback by the writer
            reason = f"The CFX consumer stops on an unexpected error: {result}"
            self._give_up(reason, EXIT_FAILED, group)
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
        if self.stopping or self.failed:
            return
        if database_reachable():
            logger.info("Database answers again: the CFX consumer reconnects")
            self._connect()
            return
        self._outage_pause = min(self._outage_pause * 2, LONGEST_OUTAGE_PAUSE_S)
        self.container.schedule(self._outage_pause, _Timer(self._after_pause))
