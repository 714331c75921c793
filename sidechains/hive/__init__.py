"""The Hive pipeline: the deposit listener and crediting (docs/hive.md)."""
