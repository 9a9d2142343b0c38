"""Tracking: per-frame contours become shot-long shapes with fixed point counts and few keys.

- :mod:`.association` - which region of one frame is which of the next (people, parts, holes).
- :mod:`.spacetime` - anchor correspondence, the spacetime solve of their paths, handle fits.
- :mod:`.keys` - keys only where linear interpolation would leave the shape.
- :mod:`.track` - the stage itself: ``track_contours`` and its ``TrackOptions``.
"""
