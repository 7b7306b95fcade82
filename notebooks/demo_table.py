# Databricks notebook source
# MAGIC %md
# MAGIC # Demo events
# MAGIC What the foundation demo wrote: the Delta table `demo_events`, per video and per partition.

# COMMAND ----------

dbutils.widgets.text("env", "local")
dbutils.widgets.text("table_path", "")

# COMMAND ----------

from vodlake.config import load_config
from vodlake.lake.tables import Tables
from vodlake.transforms.demo import events_per_video

cfg = load_config(dbutils.widgets.get("env"))
path = dbutils.widgets.get("table_path") or Tables(cfg).path("demo_events")
events = spark.read.format("delta").load(path)

# COMMAND ----------

per_video = events_per_video(events)
display(per_video)
