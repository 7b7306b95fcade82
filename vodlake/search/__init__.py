"""Catalog search: the Elasticsearch mapping and queries, the sync from Delta, the reindex."""
