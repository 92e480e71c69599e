"""Shared foundations: settings, database, storage area, DICOM helpers, auth, audit, events.

Nothing in here imports another part of vesalius; services and interfaces build on it.
"""
