"""pydicom helpers shared by every way in and out: parsing, identity, DICOM JSON."""
