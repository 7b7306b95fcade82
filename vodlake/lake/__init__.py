"""Where data lives and moves: the Spark session, Delta tables, object storage, Kafka topics."""
