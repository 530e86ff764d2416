"""The ledger's domain: money, rules, aggregates and their immutable events."""
