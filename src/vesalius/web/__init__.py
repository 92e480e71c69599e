"""The HTTP interface: REST under /api, the web UI under /ui (DICOMweb comes next)."""
