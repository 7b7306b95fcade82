"""The main job's stages, run in a namespace of their own that never touches production data."""
