"""Every limit of the infrastructure layer, in one place, each with its reason."""

from typing import Final

# How long a SQLite writer waits for another's lock before reporting the store as busy.
sqlite_lock_timeout_seconds_max: Final = 30

# Lines of an import file held in memory at once (one batch of the service layer).
import_line_length_max: Final = 1_000_000

# A PostgreSQL server that does not answer within this time is reported as unreachable.
postgres_connect_timeout_seconds_max: Final = 5

# Connections the event store may hold: one writer and a reader per process is all the CLI uses.
postgres_pool_size_max: Final = 2

# How often `projections run` looks for new events when idle: fast enough that a report
# rarely has anything left to catch up, slow enough to cost nothing on an idle ledger.
projection_poll_seconds_max: Final = 0.5
