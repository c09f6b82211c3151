"""The move from the classic channel to OCI.

Inventory, backfill, the phases and the deprecation notice.
"""
