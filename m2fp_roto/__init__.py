"""m2fp-roto: editable, tracked Bezier roto shapes of people from multi-person human parsing.

The API stays light to import (no torch, no model code) so that a Nuke session can load it
quickly; heavy modules load inside the functions that need them.

>>> import m2fp_roto
>>> doc = m2fp_roto.RotoDocument(width=1920, height=1080, first_frame=1001, last_frame=1100)
"""

from .document import DocumentError, Key, RotoDocument, Shape, shape_name
from .errors import InputError, RotoError

__version__ = "0.1.0"

__all__ = ["RotoDocument", "Shape", "Key", "shape_name", "DocumentError", "InputError", "RotoError",
           "__version__"]
