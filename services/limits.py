"""Every limit of the service layer, in one place, each with its reason."""

from typing import Final

# Commands applied in memory before one transaction saves them all: large enough that the
# commit's fsync is shared by many commands, small enough that a crash re-sends little.
import_batch_max: Final = 4000

# Aggregates kept loaded between batches: a whole giving day's active projects and parties
# fit, and the bound keeps a long import's memory flat.
aggregate_cache_max: Final = 50_000
# A project is snapshotted each time its version passes a multiple of this: loading it then
# replays at most this many events. The largest generated project (540,000 events, 300,000
# lots) makes snapshots of about 20 MB, so they are taken rarely.
project_snapshot_interval: Final = 50_000

# Stored events read from the log in one go while a read model catches up: one read-model
# transaction each, so a replay commits (and syncs) once per this many events.
catch_up_page_max: Final = 10_000

# How many times a batch is re-decided after another writer saved first, before it is split
# (a batch) or given up (a single command, which then fails loudly rather than spin for ever).
conflict_retries_max: Final = 12

# The longest pause between two attempts: random, so that competing writers spread out.
conflict_backoff_seconds_max: Final = 0.5

# A store that stops answering (a database restart) is tried again this many times, with
# growing pauses of at most store_backoff_seconds_max: about a minute in all.
store_retries_max: Final = 12
store_backoff_seconds_max: Final = 8.0
