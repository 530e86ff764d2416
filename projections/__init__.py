"""Read models built from the ledger's events, each rebuildable from the event history alone."""
