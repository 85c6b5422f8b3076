"""Machinery shared by the benchmarks: databases, servers, the load generator, reporting."""
