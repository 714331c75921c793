"""python -m bench.hive: the Hive deposit listener against the Hive dev node (bench/README.md)."""
