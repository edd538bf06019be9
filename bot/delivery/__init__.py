"""The runtime that joins flows and storage: engine, outbox, inbox, scheduler, send pacing."""
