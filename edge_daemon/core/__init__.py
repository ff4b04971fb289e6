"""What every stage shares, and nothing else: records, interfaces, stats, small mechanisms.

The leaf of the package: it imports nothing else of edge_daemon, and everything may import
it (docs/architecture.md).
"""
