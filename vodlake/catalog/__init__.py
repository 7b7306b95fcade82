"""Uploads in, playable videos out: upload events, the transcode stream and the catalog tables."""
