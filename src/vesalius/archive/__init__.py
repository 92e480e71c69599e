"""The archive's own services: projects, accounts, browsing the index, the demo data.

Every function takes the session explicitly, is keyword-only and never commits: the
caller (a CLI command, a request) owns the transaction.
"""
