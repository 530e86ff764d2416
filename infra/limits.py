"""Every limit of the infrastructure layer, in one place, each with its reason."""

from typing import Final

# How long a SQLite writer waits for another's lock before reporting the store as busy.
sqlite_lock_timeout_seconds_max: Final = 30

# Lines of an import file held in memory at once (one batch of the service layer).
import_line_length_max: Final = 1_000_000
