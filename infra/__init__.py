"""Everything that touches the outside: stores, read-model tables, logging, CLI and wiring."""
