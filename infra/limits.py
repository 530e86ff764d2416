"""Every limit of the infrastructure layer, in one place, each with its reason."""

from typing import Final

# How long a SQLite writer waits for another's lock before reporting the store as busy.
sqlite_lock_timeout_seconds_max: Final = 30
# The page size of a new SQLite reports file (SQLite's default is 4,096 bytes). A replay loads
# and indexes every report row at once: at full size it took 9.9-10.8 s on a store imported
# with 16 KiB pages against 11.1-11.9 s with 4 KiB, alternated on one machine; 8 and 32 KiB were
# no better, 64 KiB worse (docs/PERFORMANCE.md, change 90). A file's page size is fixed once it holds a table.
sqlite_reports_page_bytes: Final = 16_384

# The longest line an import reads: far beyond any real command, so a runaway line is
# refused as invalid_command instead of being parsed.
import_line_length_max: Final = 1_000_000

# A PostgreSQL server that does not answer within this time is reported as unreachable.
postgres_connect_timeout_seconds_max: Final = 5

# Connections the event store may hold: one writer and a reader per process is all the CLI uses.
postgres_pool_size_max: Final = 2

# How often `projections run` looks for new events when idle: fast enough that a report
# rarely has anything left to catch up, slow enough to cost nothing on an idle ledger.
projection_poll_seconds_max: Final = 0.5

# Kafka: every client option is set explicitly (see infra/kafka_relay.py and kafka_worker.py).
# Events published per batch before the relay waits for the broker's acknowledgements.
relay_batch_max: Final = 500
# How long one produce, metadata or fetch request may take before it counts as failed.
kafka_request_timeout_ms_max: Final = 30_000
# How long a send may block on a full buffer or missing metadata.
kafka_block_ms_max: Final = 30_000
# Retries of a failed produce request (with acks="all" and one request in flight, in order).
kafka_producer_retries_max: Final = 10
# Records one poll may return: one read-model transaction covers at most this many.
worker_poll_records_max: Final = 500
# How long one poll waits for records.
worker_poll_timeout_ms_max: Final = 1_000
# A worker missing heartbeats this long is dropped from its group.
kafka_session_timeout_ms_max: Final = 30_000
# How long a worker waits for its group to assign it partitions before giving up.
worker_join_seconds_max: Final = 120
# kafka-python wants a consumer's request timeout above its session timeout.
kafka_consumer_request_timeout_ms_max: Final = 40_000
# How often an idle relay looks for new events.
relay_poll_seconds_max: Final = 0.5

# Ids asked about in one existence query: well under SQLite's limit of bound parameters.
existence_query_ids_max: Final = 500

# After a catch-up of this many events, PostgreSQL's planner statistics are refreshed at once
# (autovacuum would do it later): without them a fresh read model is scanned, not indexed.
analyze_after_events_min: Final = 5_000
# The import's follower processes (infra/follower.py): they follow imports of files at least this
# large (about 20,000 commands), where their start-up of half a second is paid back many times.
follower_file_bytes_min: Final = 4 * 1024 * 1024
# Events each applies per transaction, as many as the import records in one. Pages of 1,000
# held SQLite's single write lock more briefly, but every page rewrote the pages of the report
# tables' indexes that it touched: a full-size SQLite import left its report follower 5-10 s
# behind at the end, against 2 s with these pages and the cache below (docs/PERFORMANCE.md,
# change 80).
follower_page_max: Final = 4000
# The report follower's pages, when it is that far behind. Its tables are in a file of their own
# (change 89), so its transactions no longer hold the import's write lock, and a larger page
# writes each index page it touches once for more rows. Alone over a full-size import's events:
# 23.8 s of CPU with pages of 20,000, against 36.9 s with 4,000 (docs/PERFORMANCE.md, change 96).
report_follower_page_max: Final = 20_000
# How much lower the followers' scheduling priority is than the import's (a niceness added to
# its own; the kernel stops at 19). Three busy processes and the database server share two cores
# during an import; at the lower priority the deciding process, which is what the import waits for,
# keeps its core, and the followers use what it leaves (full size, alternated: PostgreSQL 41.4 and
# 41.8 s against 45.5 and 45.6 s; SQLite 40.9 and 42.4 s against 42.4 and 42.6 s;
# docs/PERFORMANCE.md, change 93).
follower_niceness: Final = 10
# Imports of files at least this large read and prepare their lines in a helper process
# (infra/line_reader.py), whose start-up costs a few tenths of a second on the other core. Into
# PostgreSQL too since change 109: before the report follower set the secondary indexes aside
# there (change 108), the server's processes, the followers and the helper outgrew the two cores
# (docs/PERFORMANCE.md, change 95).
line_reader_file_bytes_min: Final = 4 * 1024 * 1024
# Each follower's SQLite page cache, in KiB (SQLite's default is 2,000): the report tables'
# indexes by donor and by project are written at random places.
follower_sqlite_cache_kib: Final = 64 * 1024
# When the report follower builds the report tables' indexes at the end of a first load, SQLite's
# sorter takes runs of this many KiB (it sizes them from the main file's page cache, which this
# sets for the builds) and sorts them on this many helper threads. With the follower's cache, the
# largest build sorted 892,311 rows in one run on one core: full size, the donors' covering index
# in 1.46-1.83 s, against 0.79 s in runs of 4 MiB and 0.60 s with two threads (1.03 s of CPU);
# all seven in 2.03-2.20 s against 3.34-3.44 s (docs/PERFORMANCE.md, change 124).
follower_index_sort_run_kib: Final = 4 * 1024
follower_index_sort_threads: Final = 2
# A checksum over at least this many donors has a second process encode half of their trails;
# below it, that process's start-up would cost more than it saves. The bound was set when the
# start-up took about a second; it is now 0.15 s (measured), and the bound was not measured again.
parallel_checksum_donors_min: Final = 20_000
# This process reads the checksum helper's entries as it writes them, this many bytes a read,
# and waits this long when it has caught up with the helper.
helper_read_bytes: Final = 1 << 20
helper_poll_seconds: Final = 0.005
# A verification of at least this many events has a second process recompute the leaves; below
# it, that process's start-up (0.3-0.4 s to spawn and import, measured) would cost more than it saves.
parallel_verify_events_min: Final = 50_000
# The share of the donors whose trails a replay's checksum helper encodes, by store. It starts
# before the secondary indexes are built, which this process does meanwhile, so it takes the
# larger share. Full size, by hand, after the trails got cheaper (round eleven): on SQLite the
# replay took 10.8-11.1 s at 0.9 against 11.6-11.8 s at 0.8 (this process last to finish) and
# 11.3-11.7 s at 0.95 (the helper last), two runs each; on PostgreSQL, whose index builds take longer,
# this process is last to finish even when the helper takes every donor (the helper exited at
# 13.9 s, this process was done at 14.8 s), so it does: 15.2-15.4 s against 15.9 s at 0.9.
replay_checksum_helper_share: Final = {"sqlite": 0.9, "postgresql": 1.0}
# A replay of at least this many events reads them in a second process while this one writes;
# below it, that process's start-up would cost more than it saves.
parallel_replay_events_min: Final = 50_000
# A replay in SQL over at least this many SQLite events has a second process read the later
# donations (infra/rebuild_sql.py's DonationsAside); below it, that process's start-up would
# cost more than it saves. Its share of the store's positions is chosen from these costs of a
# row, in microseconds (full size, by hand, the fastest runs: 892,311 donations read from their
# JSON 2.8 s, 926,367 movements 1.64-1.86 s, 760,000 donations' rows copied from the second
# process's file 0.99 s), or is the default share when the books held no donations before the replay.
parallel_rebuild_events_min: Final = 100_000
rebuild_row_micros: Final = {"donation": 3.1, "movement": 2.0, "copy": 1.3}
rebuild_donations_aside_share: Final = 0.6
# On PostgreSQL, the share of the store's last positions whose donations the second connection
# reads once it has read every other kind of row (OtherRowsAside), while this connection reads
# the rest and copies in the other rows: without it that connection sat idle while this one read
# the donations and copied every row (docs/PERFORMANCE.md, change 119). Since changes 121 and 122
# it also makes the movements' table whole, and neither connection copies its largest table, so
# that connection's share is small.
rebuild_donations_aside_share_postgresql: Final = 0.04
# Pages of facts the reader may be ahead of the writer (each page is up to catch_up_page_max events).
replay_pages_ahead_max: Final = 4
# Rows fetched at a time by a streamed query (the checksum over every donor trail reads millions).
stream_page_rows: Final = 5000
# How often it looks for new events while the import is still deciding its next batch.
follower_poll_seconds_max: Final = 0.05
# How long an import waits, at its end, for its followers to apply the last events.
follower_join_seconds_max: Final = 600

# The cyclic garbage collector's thresholds (gc.set_threshold) in every fundtrail process: a
# young collection after 50,000 allocations instead of 700, see infra/collector.py.
collector_thresholds: Final = (50_000, 20, 10)
