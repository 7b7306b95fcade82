"""Playback telemetry: the session generator, the quality suite, Kafka -> bronze/silver ingest."""
