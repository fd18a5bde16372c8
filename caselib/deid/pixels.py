"""Reasons why the pixels of an object may carry burned-in identifiers (flag only).

caselib does not clean pixel data (no Clean Pixel Data Option is claimed).  The
ingest pipeline uses :func:`pixel_phi_risk` to send risky objects to quarantine for a
human to look at; an empty list means no known reason, not a guarantee.

Reasons checked (header only, pixels are not decoded):

- Burned In Annotation (0028,0301) is ``YES``;
- Recognizable Visual Features (0028,0302) is ``YES`` (a face may be recognisable);
- the modality usually burns text into the image: US, IVUS, XC, ES, GM, SM, OT, DOC;
- the SOP class is a capture of a screen or paper: Secondary Capture (single and
  multi-frame), Encapsulated PDF/CDA, Video Endoscopic/Photographic, VL Photographic;
- Conversion Type (0008,0064) says the image was captured from a screen, a
  document or film (WSD, SD, SI, DF, DRW, SYN);
- Image Type (0008,0008) contains ``SCREEN SAVE``, ``SCREENSHOT`` or ``CAPTURE``;
- an overlay is stored in the unused high bits of Pixel Data (retired
  Overlay Bits Allocated with an overlay bit position inside the pixel cell);
- a colour (RGB, YBR, PALETTE) image of a modality that acquires grey scale
  (CT, MR, PT, NM, CR, DX, MG, XA, RF), which is usually a screen capture.

Examples
--------
>>> from pydicom.dataset import Dataset
>>> ds = Dataset(); ds.Modality = "US"; ds.BurnedInAnnotation = "YES"
>>> pixel_phi_risk(ds)
['Burned In Annotation (0028,0301) is YES', 'modality US usually carries burned-in text']
>>> ds = Dataset(); ds.Modality = "CT"; ds.PhotometricInterpretation = "MONOCHROME2"
>>> pixel_phi_risk(ds)
[]
"""
from __future__ import annotations

from pydicom.dataset import Dataset

__all__ = ["pixel_phi_risk", "RISKY_MODALITIES", "CAPTURE_SOP_CLASSES"]

#: modalities whose images usually carry burned-in text
RISKY_MODALITIES = frozenset({"US", "IVUS", "XC", "ES", "GM", "SM", "OT", "DOC"})

#: SOP classes that capture screens, paper or photographs
CAPTURE_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.7": "Secondary Capture Image Storage",
    "1.2.840.10008.5.1.4.1.1.7.1": "Multi-frame Single Bit Secondary Capture Image Storage",
    "1.2.840.10008.5.1.4.1.1.7.2": "Multi-frame Grayscale Byte Secondary Capture Image Storage",
    "1.2.840.10008.5.1.4.1.1.7.3": "Multi-frame Grayscale Word Secondary Capture Image Storage",
    "1.2.840.10008.5.1.4.1.1.7.4": "Multi-frame True Color Secondary Capture Image Storage",
    "1.2.840.10008.5.1.4.1.1.104.1": "Encapsulated PDF Storage",
    "1.2.840.10008.5.1.4.1.1.104.2": "Encapsulated CDA Storage",
    "1.2.840.10008.5.1.4.1.1.77.1.1.1": "Video Endoscopic Image Storage",
    "1.2.840.10008.5.1.4.1.1.77.1.4": "VL Photographic Image Storage",
    "1.2.840.10008.5.1.4.1.1.77.1.4.1": "Video Photographic Image Storage",
}

_CAPTURE_CONVERSIONS = {
    "WSD": "workstation screen capture", "SD": "scanned document", "SI": "scanned image",
    "DF": "digitized film", "DRW": "drawing", "SYN": "synthetic image",
}
_GREY_MODALITIES = frozenset({"CT", "MR", "PT", "NM", "CR", "DX", "MG", "XA", "RF"})


def _values(ds: Dataset, tag: int) -> list[str]:
    """Upper-case values of an ASCII attribute (CS, UI), read without pydicom's conversion."""
    elem = ds._dict.get(tag)  # type: ignore[call-overload]
    if elem is None:
        return []
    value = elem.value
    if isinstance(value, bytes):
        text = value.decode("ascii", "replace")
    elif value is None:
        return []
    elif isinstance(value, str):
        text = value
    else:
        text = "\\".join(str(v) for v in value)
    return [v.strip(" \x00").upper() for v in text.split("\\")]


def _text(ds: Dataset, tag: int) -> str:
    values = _values(ds, tag)
    return values[0] if values else ""


def _int(ds: Dataset, tag: int) -> int | None:
    elem = ds._dict.get(tag)  # type: ignore[call-overload]
    if elem is None or elem.value in (None, b"", ""):
        return None
    value = elem.value
    try:
        if isinstance(value, bytes):
            return int.from_bytes(value[:2], "little" if getattr(elem, "is_little_endian", True) else "big")
        return int(value)
    except (TypeError, ValueError):
        return None


def pixel_phi_risk(ds: Dataset) -> list[str]:
    """Reasons why ``ds`` may carry burned-in identifying text, most certain first.

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        The original (or de-identified) dataset; only the header is read.

    Returns
    -------
    list of str
        Human-readable reasons; empty when none is known.
    """
    reasons: list[str] = []
    if _text(ds, 0x00280301) == "YES":
        reasons.append("Burned In Annotation (0028,0301) is YES")
    if _text(ds, 0x00280302) == "YES":
        reasons.append("Recognizable Visual Features (0028,0302) is YES")
    modality = _text(ds, 0x00080060)
    if modality in RISKY_MODALITIES:
        reasons.append(f"modality {modality} usually carries burned-in text")
    sop_class = _text(ds, 0x00080016)
    if sop_class in CAPTURE_SOP_CLASSES:
        reasons.append(f"SOP class is {CAPTURE_SOP_CLASSES[sop_class]} (a capture)")
    conversion = _text(ds, 0x00080064)
    if conversion in _CAPTURE_CONVERSIONS:
        reasons.append(f"Conversion Type (0008,0064) {conversion}: {_CAPTURE_CONVERSIONS[conversion]}")
    if any(v in ("SCREEN SAVE", "SCREENSHOT", "CAPTURE") for v in _values(ds, 0x00080008)):
        reasons.append("Image Type says it is a screen capture")
    bits_stored = _int(ds, 0x00280101)
    for group in range(0x6000, 0x6020, 2):
        bit = _int(ds, (group << 16) | 0x0102)  # Overlay Bit Position
        if bit is None or bits_stored is None:
            continue
        if ((group << 16) | 0x3000) not in ds._dict and bit >= bits_stored:
            reasons.append(f"overlay {group:04X} is stored in the high bits of Pixel Data")
    photometric = _text(ds, 0x00280004)
    if modality in _GREY_MODALITIES and photometric.startswith(("RGB", "YBR", "PALETTE")):
        reasons.append(f"colour image ({photometric}) of a grey-scale modality ({modality}): likely a screen capture")
    return reasons
