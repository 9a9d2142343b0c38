"""The M2FP parsing backend (optional extra: ``pip install 'm2fp-roto[m2fp]'``).

M2FP (Yang et al., 2023, "Deep Learning Technique for Human Parsing: A Survey and Outlook")
through ModelScope, with our own pre- and post-processing. Importing this package loads neither
torch nor ModelScope; they load when a model is first used.

The published weights (``damo/cv_resnet101_image-multiple-human-parsing``) are trained on CIHP
and parts of M2FP are licensed CC BY-NC 4.0: not cleared for commercial work.
"""

from .describe import describe
from .locate import MODEL_ID, REVISION, ModelNotFound, locate_model
from .network import ModelLoadError
from .parser import BackendMissing, M2FPParser

__all__ = ["M2FPParser", "locate_model", "describe", "ModelNotFound", "ModelLoadError", "BackendMissing",
           "MODEL_ID", "REVISION"]
