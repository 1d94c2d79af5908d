"""ivr: design, test and run phone voice menus (IVR).

A designer writes a menu in YAML; one pure engine turns it into the steps of a call.
The web layer speaks those steps to Twilio as TwiML, the caller walks them without a
phone, and the traffic simulator sends a peak hour of callers through them.
"""

from __future__ import annotations

__version__ = "0.1.0"
