# Databricks notebook source
# MAGIC %md
# MAGIC # Popularity explorer
# MAGIC Gold popularity of one date (`gold_popularity`): per edge x file (video x rendition x
# MAGIC chunk), the day's requests and popularity (bytes streamed / file size), the decayed trend
# MAGIC and the forecast for tomorrow that placement ranks by. Leave `date` empty for the latest.

# COMMAND ----------

dbutils.widgets.text("env", "local")
dbutils.widgets.text("lake", "")
dbutils.widgets.text("date", "")
dbutils.widgets.text("top", "20")

# COMMAND ----------

import matplotlib.pyplot as plt
from pyspark.sql import functions as F

from vodlake.config import load_config
from vodlake.lake.tables import Tables
from vodlake.transforms.popularity import chunk_curve, top_files

lake = dbutils.widgets.get("lake")
cfg = load_config(dbutils.widgets.get("env"), overrides={"paths": {"lake": lake}} if lake else None)
gold = Tables(cfg).read(spark, "gold_popularity")
day = dbutils.widgets.get("date") or str(gold.agg(F.max("date")).first()[0])
gold_day = gold.where(F.col("date") == F.lit(day))

# COMMAND ----------

# MAGIC %md The files each edge is expected to read most tomorrow.

# COMMAND ----------

top = top_files(gold_day, int(dbutils.widgets.get("top")))
display(top)

# COMMAND ----------

# MAGIC %md Requests and forecast by chunk index: early abandonment makes the first chunks hot.

# COMMAND ----------

curve = chunk_curve(gold_day).toPandas()
fig, ax = plt.subplots(figsize=(9, 4))
ax.plot(curve["chunk_idx"], curve["requests"], label=f"requests on {day}")
ax.plot(curve["chunk_idx"], curve["forecast"], label="forecast reads tomorrow")
ax.set_yscale("log")
ax.set_xlabel("chunk index")
ax.set_ylabel("per day, all edges and renditions")
ax.legend()
display(fig)

# COMMAND ----------

# MAGIC %md Traffic per edge and rendition on the day (bytes), and how concentrated it is.

# COMMAND ----------

per_edge = (
    gold_day.groupBy("edge_id", "region", "isp")
    .pivot("rendition")
    .agg(F.sum("bytes"))
    .orderBy("edge_id")
)
display(per_edge)
