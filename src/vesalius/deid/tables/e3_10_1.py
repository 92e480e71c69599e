"""DICOM PS3.15 Table E.3.10-1 (Safe Private Attributes), as vesalius carries it.

Source: DICOM PS3.15 Table E.3.10-1, written by hand from the standard's content (the
reference folder has no machine-readable copy of this table to generate it from).

Not complete for edition 2024b: these are the rows we are sure of (the table as it stood in
earlier editions: Philips PET and MR scale factors, ELSCINT1 CT technique, GE acquisition,
Helios and PACS flags, Siemens MR diffusion, Hologic codec, NeuroQuant volumes, Siemens
SC2000 ultrasound streams). Later editions added more vendors' attributes; until they are
entered here those attributes are removed (the safe default). TCIA's private tag knowledge
base, read from ``tcia_private_tags_path``, widens the list without shipping it.

Each row: (private creator, group, element within the block (the ``xx`` byte stripped),
VR as listed ("" where the standard lists none), meaning). The standard notes that vendors
do not guarantee these to be safe; the engine still maps UIDs and shifts dates in them.
"""

from __future__ import annotations

EDITION = "2024b (subset)"
SOURCE = "DICOM PS3.15 Table E.3.10-1"

SafeRow = tuple[str, int, int, str, str]

_NQ_REGIONS = (
    "Cortical White Matter",
    "Cortical Gray Matter",
    "3rd Ventricle",
    "4th Ventricle",
    "5th Ventricle",
    "Lateral Ventricle",
    "Inferior Lateral Ventricle",
    "Inferior CSF",
    "Cerebellar White Matter",
    "Cerebellar Gray Matter",
    "Hippocampus",
    "Amygdala",
    "Thalamus",
    "Caudate",
    "Putamen",
    "Pallidum",
    "Ventral Diencephalon",
    "Nucleus Accumbens",
    "Brain Stem",
    "Exterior CSF",
    "WM Hypo",
    "Other",
)
_SC2000 = "SIEMENS Ultrasound SC2000"
_TOYON = "SIEMENS SYNGO ULTRA-SOUND TOYON DATA STREAMING"

SAFE_PRIVATE: tuple[SafeRow, ...] = (
    ("Philips PET Private Group", 0x7053, 0x00, "DS", "SUV Factor"),
    ("Philips PET Private Group", 0x7053, 0x09, "DS", "Activity Concentration Factor"),
    ("ELSCINT1", 0x00E1, 0x21, "DS", "DLP"),
    ("ELSCINT1", 0x00E1, 0x50, "DS", "Acquisition Duration"),
    ("ELSCINT1", 0x01E1, 0x26, "CS", "Phantom Type"),
    ("ELSCINT1", 0x01F1, 0x01, "CS", "Acquisition Type"),
    ("ELSCINT1", 0x01F1, 0x07, "DS", "Table Velocity"),
    ("ELSCINT1", 0x01F1, 0x26, "DS", "Pitch"),
    ("ELSCINT1", 0x01F1, 0x27, "DS", "Rotation Time"),
    ("GEMS_ACQU_01", 0x0019, 0x23, "DS", "Table Speed [mm/rotation]"),
    ("GEMS_ACQU_01", 0x0019, 0x24, "DS", "Mid Scan Time [sec]"),
    ("GEMS_ACQU_01", 0x0019, 0x27, "DS", "Rotation Speed (Gantry Period)"),
    ("GEMS_ACQU_01", 0x0019, 0x9E, "LO", "Internal Pulse Sequence Name"),
    ("GEMS_PARM_01", 0x0043, 0x27, "SH", 'Scan Pitch Ratio in the form "n.nnn:1"'),
    ("GEMS_PARM_01", 0x0043, 0x39, "IS", "1st value is B Value"),
    ("GEMS_PARM_01", 0x0043, 0x6F, "DS", "Scanner Table Entry + Gradient Coil Selected"),
    ("GEMS_HELIOS_01", 0x0045, 0x01, "SS", "Number of Macro Rows in Detector"),
    ("GEMS_HELIOS_01", 0x0045, 0x02, "FL", "Macro width at ISO Center"),
    ("GEMS_SERS_01", 0x0025, 0x07, "SL", "Images in Series"),
    ("GEIIS PACS", 0x0903, 0x10, "US", "Reject Image Flag"),
    ("GEIIS PACS", 0x0903, 0x11, "US", "Significant Flag"),
    ("GEIIS PACS", 0x0903, 0x12, "US", "Confidential Flag"),
    ("Philips Imaging DD 001", 0x2001, 0x03, "FL", "Diffusion B-Factor"),
    ("Philips Imaging DD 001", 0x2001, 0x04, "CS", "Diffusion Direction"),
    ("Philips MR Imaging DD 001", 0x2005, 0x0D, "FL", "Scale Intercept"),
    ("Philips MR Imaging DD 001", 0x2005, 0x0E, "FL", "Scale Slope"),
    ("SIEMENS MR HEADER", 0x0019, 0x0C, "IS", "B Value"),
    ("SIEMENS MR HEADER", 0x0019, 0x0D, "CS", "Diffusion Directionality"),
    ("SIEMENS MR HEADER", 0x0019, 0x0E, "FD", "Diffusion Gradient Direction"),
    ("SIEMENS MR HEADER", 0x0019, 0x27, "FD", "B Matrix"),
    ("HOLOGIC, Inc.", 0x7E01, 0x01, "LO", "Codec Version"),
    ("HOLOGIC, Inc.", 0x7E01, 0x02, "SH", "Codec Content Type"),
    ("HOLOGIC, Inc.", 0x7E01, 0x10, "SQ", "High Resolution Data Sequence"),
    ("HOLOGIC, Inc.", 0x7E01, 0x11, "SQ", "Low Resolution Data Sequence"),
    ("HOLOGIC, Inc.", 0x7E01, 0x12, "OB", "Codec Content"),
    ("NQHeader", 0x0099, 0x01, "UI", "Version"),
    ("NQHeader", 0x0099, 0x02, "UI", "Analyzed Series UID"),
    ("NQHeader", 0x0099, 0x04, "SS", "Return Code"),
    ("NQHeader", 0x0099, 0x05, "LT", "Return Message"),
    ("NQHeader", 0x0099, 0x10, "FL", "MI"),
    ("NQHeader", 0x0099, 0x20, "SH", "Units"),
    ("NQHeader", 0x0099, 0x21, "FL", "ICV"),
    *(("NQLeft", 0x0199, i, "FL", f"Left {r}") for i, r in enumerate(_NQ_REGIONS, 1)),
    *(("NQRight", 0x0299, i, "FL", f"Right {r}") for i, r in enumerate(_NQ_REGIONS, 1)),
    (_SC2000, 0x0119, 0x00, "LO", "Acoustic Meta Information Version"),
    (_SC2000, 0x0119, 0x01, "OB", "Common Acoustic Meta Information"),
    (_SC2000, 0x0119, 0x02, "SQ", "Multi Stream Sequence"),
    (_SC2000, 0x0119, 0x03, "SQ", "Acoustic Data Sequence"),
    (_SC2000, 0x0119, 0x04, "OB", "Per Transaction Acoustic Control Information"),
    (_SC2000, 0x0119, 0x05, "UL", "Acoustic Data Offset"),
    (_SC2000, 0x0119, 0x06, "UL", "Acoustic Data Length"),
    (_SC2000, 0x0119, 0x07, "UL", "Footer Offset"),
    (_SC2000, 0x0119, 0x08, "UL", "Footer Length"),
    (_SC2000, 0x0119, 0x09, "SS", "Acoustic Stream Number"),
    (_SC2000, 0x0119, 0x10, "SH", "Acoustic Stream Type"),
    (_SC2000, 0x0119, 0x11, "", "Stage Timer Time"),
    (_SC2000, 0x0119, 0x12, "", "Stop Watch Time"),
    (_SC2000, 0x0119, 0x13, "IS", "Volume Rate"),
    (_SC2000, 0x0119, 0x21, "SH", ""),
    (_SC2000, 0x0129, 0x00, "SQ", "MPR View Sequence"),
    (_SC2000, 0x0129, 0x02, "UI", "Bookmark UID"),
    (_SC2000, 0x0129, 0x03, "", "Plane Origin Vector"),
    (_SC2000, 0x0129, 0x04, "", "Row Vector"),
    (_SC2000, 0x0129, 0x05, "", "Column Vector"),
    (_SC2000, 0x0129, 0x06, "SQ", "Visualization Sequence"),
    (_SC2000, 0x0129, 0x07, "UI", "Bookmark UID"),
    (_SC2000, 0x0129, 0x08, "OB", "Visualization Information"),
    (_SC2000, 0x0129, 0x09, "SQ", "Application State Sequence"),
    (_SC2000, 0x0129, 0x10, "OB", "Application State Information"),
    (_SC2000, 0x0129, 0x11, "SQ", "Referenced Bookmark Sequence"),
    (_SC2000, 0x0129, 0x12, "UI", "Referenced Bookmark UID"),
    (_SC2000, 0x0129, 0x20, "SQ", "Cine Parameters Sequence"),
    (_SC2000, 0x0129, 0x21, "OB", "Cine Parameters Schema"),
    (_SC2000, 0x0129, 0x22, "OB", "Values of Cine Parameters"),
    (_SC2000, 0x0129, 0x29, "OB", ""),
    (_SC2000, 0x0129, 0x30, "CS", "Raw Data Object Type"),
    (_SC2000, 0x0139, 0x01, "SL", "Physio Capture ROI"),
    (_SC2000, 0x0149, 0x01, "FD", "Vector of BROI Points"),
    (_SC2000, 0x0149, 0x02, "FD", "Start/End Timestamps of Strip Stream"),
    (_SC2000, 0x0149, 0x03, "FD", "Timestamps of Visible R-waves"),
    (_SC2000, 0x7FD1, 0x01, "OB", "Acoustic Image and Footer Data"),
    (_SC2000, 0x7FD1, 0x09, "UI", "Volume Version ID"),
    (_SC2000, 0x7FD1, 0x10, "OB", "Volume Payload"),
    (_SC2000, 0x7FD1, 0x11, "OB", "After Payload"),
    (_TOYON, 0x7FD1, 0x01, "OB", "Padding"),
    (_TOYON, 0x7FD1, 0x09, "UI", "Version ID"),
    (_TOYON, 0x7FD1, 0x10, "OB", "Volume Payload"),
    (_TOYON, 0x7FD1, 0x11, "OB", "After Payload"),
)
