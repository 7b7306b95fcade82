# Databricks notebook source
# MAGIC %md
# MAGIC # Placement explorer
# MAGIC What the nightly placement decided for one date (`placement`: add / keep / drop per
# MAGIC edge, with score and reason) and how the prefill did on the test day against its bound
# MAGIC (the clairvoyant static fill) and LRU / Belady warmed on the day before (`placement_eval`:
# MAGIC byte hit ratio per policy and capacity, capacities as shares of each edge's working set
# MAGIC and its configured size). Leave `date` empty for the latest.

# COMMAND ----------

dbutils.widgets.text("env", "local")
dbutils.widgets.text("lake", "")
dbutils.widgets.text("date", "")

# COMMAND ----------

import matplotlib.pyplot as plt
from pyspark.sql import functions as F

from vodlake.config import load_config
from vodlake.placement.chart import figure as chart_figure
from vodlake.placement.evaluation import evaluation_from_table
from vodlake.lake.tables import Tables
from vodlake.transforms.placement import summarize_plan

lake = dbutils.widgets.get("lake")
cfg = load_config(dbutils.widgets.get("env"), overrides={"paths": {"lake": lake}} if lake else None)
tables = Tables(cfg)
placement = tables.read(spark, "placement")
day = dbutils.widgets.get("date") or str(placement.agg(F.max("date")).first()[0])
plan = placement.where(F.col("date") == F.lit(day))

# COMMAND ----------

# MAGIC %md Files and bytes to add, keep and drop per edge (the prefill manifests' totals).

# COMMAND ----------

summary = summarize_plan(plan)
display(summary)
gb = summary.toPandas().set_index("edge_id")[["keep_bytes", "add_bytes"]] / 1e9
fig, ax = plt.subplots(figsize=(9, 4))
ax.bar(gb.index, gb["keep_bytes"], label="keep (already on the edge)")
ax.bar(gb.index, gb["add_bytes"], bottom=gb["keep_bytes"], label="add (nightly fill)")
ax.set_ylabel("GB on the edge after the fill")
ax.tick_params(axis="x", rotation=20)
ax.legend()
display(fig)

# COMMAND ----------

# MAGIC %md Why files were chosen or dropped (the reasons the manifests carry).

# COMMAND ----------

display(
    plan.groupBy("edge_id", "action", F.split("reason", ":")[0].alias("why"))
    .count()
    .orderBy("edge_id", "action")
)

# COMMAND ----------

# MAGIC %md Byte hit ratio against edge capacity per policy, on the latest evaluated day; then
# MAGIC per edge and capacity the prefill as a fraction of its bound and points over warm LRU.

# COMMAND ----------

evals = tables.read(spark, "placement_eval")
eval_day = evals.agg(F.max("date")).first()[0]
rows = evals.where(F.col("date") == F.lit(eval_day)).toPandas()
evaluation = evaluation_from_table(rows)
display(chart_figure(evaluation))
display(
    rows[rows["edge_id"] == "ALL"].pivot(
        index="policy", columns="capacity_label", values="byte_hit_ratio"
    )
)
verdicts = evaluation.verdicts()
display(verdicts)
