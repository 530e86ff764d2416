"""The application: one method per command (load, decide, save), and the queries."""
