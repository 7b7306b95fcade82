"""vodlake: a Spark-centric data platform for the video side of a streaming service."""

__version__ = "0.1.0"
