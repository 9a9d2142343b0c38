"""Where parsed frames come from: frame sequences, label maps, plates and the parse cache.

- :mod:`.frames` - sequence patterns, frame ranges and output frame paths.
- :mod:`.labelmaps` - bring-your-own parsing: label and person map sequences.
- :mod:`.plate` - plates (sequences, single images, movies) read as display sRGB;
  :mod:`.image_readers` and :mod:`.movie` read the files, :mod:`.colour` converts colour.
- :mod:`.plate_parsing` - a plate parsed by a model, through :mod:`.parse_cache`.
"""
