"""Box labels: one page per device with its model, serial number and claim QR code.

The QR code is built by segno and drawn module by module as vector squares by
reportlab, so it stays sharp at any printer resolution. The claim code is also
printed in text, for owners who type it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import segno
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas

LABEL_SIZE = (100 * mm, 60 * mm)
QR_SIZE = 40 * mm  # leaves the 4-module quiet zone a scanner needs beside the text
MARGIN = 6 * mm


@dataclass(frozen=True)
class Label:
    serial: str
    model: str
    claim_code: str
    qr_payload: str  # what the QR code says: the claim URL, or the bare code


def _draw_qr(pdf: canvas.Canvas, payload: str, x: float, y: float, size: float) -> None:
    qr = segno.make(payload, error="m", micro=False)
    rows = qr.matrix
    module = size / len(rows)
    pdf.setFillColorRGB(0, 0, 0)
    for r, row in enumerate(rows):
        for c, dark in enumerate(row):
            if dark:
                pdf.rect(x + c * module, y + size - (r + 1) * module, module, module, stroke=0, fill=1)


def render_pdf(labels: list[Label], *, title: str = "Box labels", compress: bool = True) -> bytes:
    out = io.BytesIO()
    pdf = canvas.Canvas(out, pagesize=LABEL_SIZE, pageCompression=1 if compress else 0)
    pdf.setTitle(title)
    width, height = LABEL_SIZE
    for label in labels:
        _draw_qr(pdf, label.qr_payload, width - MARGIN - QR_SIZE, (height - QR_SIZE) / 2, QR_SIZE)
        pdf.setFont("Helvetica-Bold", 14)
        pdf.drawString(MARGIN, height - MARGIN - 12, label.model)
        pdf.setFont("Helvetica", 9)
        pdf.drawString(MARGIN, height - MARGIN - 28, f"S/N {label.serial}")
        pdf.setFont("Helvetica", 7)
        pdf.drawString(MARGIN, MARGIN + 16, "Claim code")
        pdf.setFont("Courier-Bold", 10)
        pdf.drawString(MARGIN, MARGIN + 4, label.claim_code)
        pdf.showPage()
    pdf.save()
    return out.getvalue()
