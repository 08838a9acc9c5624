"""Operations notices of the service: a source broke or recovered, a configuration edit was rejected or accepted.

They go to the alert outbox as ``operations`` alerts (one per channel of
``alerts.operations_channels``, queued in the caller's transaction by
:func:`alerts.outbox.queue_operations_alert`), so the dispatcher sends them
with the same retries as article alerts and a mail server that is down loses
none; the key makes each notice once-only whatever restarts happen around it.
Every notice is also logged: without an operations channel the log is where
it is read.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from alerts.outbox import queue_operations_alert
from config import Config

logger = logging.getLogger("hlidka.ops")


def queue_notice(session: Session, config: Config, key: str, subject: str, body: str) -> int:
    """Log the notice and queue it for the operations channels; returns how many alerts were queued."""
    logger.warning("operations notice: %s\n%s", subject, body, extra={"event": "operations_notice", "notice": key})
    return queue_operations_alert(session, config, key, subject, body)
