"""Option groups shared by commands: each arrives in the command as one value.

``option_group(dest, options, build)`` adds ``options`` (click.option decorators) to a command
and hands them over as ``dest = build(**values)``, so a command takes a few meaningful values
(the vectorize settings, the tracking settings, the exporter's options ...) instead of dozens
of loose parameters. Defaults come from the library's option dataclasses: one place each.
"""

from __future__ import annotations

import functools
import logging

import click

from ..exporters import exporter_names, exporter_options, load_exporter
from ..tracking.track import TrackOptions, default_workers
from ..vectorize import VectorizeOptions

log = logging.getLogger("m2fp_roto")

_VECTORIZE, _TRACK = VectorizeOptions(), TrackOptions()


def _param_names(options) -> list[str]:
    def probe():
        pass

    for option in options:
        probe = option(probe)
    return [p.name for p in getattr(probe, "__click_params__", [])]


def option_group(dest: str, options, build=dict):
    """A decorator adding ``options`` to a command; their values arrive as ``dest``."""
    options = list(options)
    names = _param_names(options)

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            values = {name: kwargs.pop(name) for name in names}
            return fn(*args, **{dest: build(**values)}, **kwargs)

        for option in reversed(options):
            wrapper = option(wrapper)
        return wrapper

    decorate.names = tuple(names)  # the parameters it adds, for checks on what the user gave
    return decorate


vectorize_options = option_group("vectorize", [
    click.option("--tolerance", type=float, default=_VECTORIZE.tolerance, show_default=True,
                 help="Max distance (px) of each frame's Bezier curves from the smoothed boundary; larger = fewer "
                 "points (tracked shapes: --anchor-tolerance)."),
    click.option("--min-area", type=float, default=_VECTORIZE.min_area, show_default=True,
                 help="Regions and holes smaller than this many pixels are dropped (and said so with -v)."),
    click.option("--smooth", type=float, default=_VECTORIZE.smooth, show_default=True,
                 help="Boundary smoothing (Gaussian sigma in px) against label staircases; 0 = none."),
], VectorizeOptions)


def _tracking(track, key_tolerance, key_floor, anchor_tolerance, smoothing, max_gap, min_share,
              temporal_window, workers) -> dict:
    """``build_document``'s tracking arguments."""
    return {"track": track, "workers": workers, "temporal_window": temporal_window,
            "track_options": TrackOptions(key_tolerance=key_tolerance, key_floor=key_floor,
                                          anchor_tolerance=anchor_tolerance,
                                          smoothing=smoothing, max_gap=max_gap, min_share=min_share)}


def _odd(value: int) -> int:
    if value % 2 == 0:
        raise click.BadParameter(f"{value} is even; the window is centred on its frame (1, 3, 5 ...)")
    return value


track_options = option_group("tracking", [
    click.option("--track/--no-track", default=True, show_default=True,
                 help="One shape per person, part and component over the whole shot (fixed point count, "
                 "smoothed paths, reduced keys); --no-track writes every frame's shapes separately."),
    click.option("--key-tolerance", type=click.FloatRange(min=0.0, min_open=True), default=_TRACK.key_tolerance,
                 show_default=True,
                 help="Keys only where linear interpolation would stray more than this (px) from the tracked shape."),
    click.option("--key-floor", type=click.FloatRange(0.0, 1.0), default=_TRACK.key_floor, show_default=True,
                 help="A key also where interpolation would overlap the frame's outline less than this (IoU): "
                 "small parts, which 1 px of interpolation costs much of their area (0 = off)."),
    click.option("--anchor-tolerance", type=click.FloatRange(min=0.0, min_open=True),
                 default=_TRACK.anchor_tolerance, show_default=True,
                 help="Max distance (px) of a tracked shape's curve from most frames' outlines when its point "
                 "count is chosen (closer on parts under 40 px across); larger = fewer points. --tolerance sets "
                 "the per-frame shapes' (--no-track)."),
    click.option("--smoothing", type=click.FloatRange(min=0.0), default=_TRACK.smoothing, show_default=True,
                 help="Temporal smoothing of the points' paths; 0 follows every frame's mask."),
    click.option("--max-gap", type=click.IntRange(min=0), default=_TRACK.max_gap, show_default=True,
                 help="Frames a person or part may be missing and still keep its shape and number."),
    click.option("--min-share", type=click.FloatRange(0.0, 1.0), default=_TRACK.min_share, show_default=True,
                 help="A piece of a part is a shape of its own only if it lasts and covers at least this share of "
                 "the part; smaller pieces (a parser's slivers) join the part's shape where they touch it (0 = off). "
                 "On a matte, a brief piece joins a shape it touches only if it has this share of the shape's area."),
    click.option("--temporal-window", type=click.IntRange(min=1), default=1, show_default=True,
                 callback=lambda ctx, param, v: _odd(v),
                 help="Temporal clean-up of the parse: each pixel's part is the majority over this many frames "
                 "around it (odd; 3 or 5 removes a parser's one- or two-frame flicker; 1 = off)."),
    click.option("--workers", type=click.IntRange(min=1), default=default_workers, show_default="CPUs, at most 8",
                 help="Processes solving tracks side by side."),
], _tracking)


def _exporter_option_decorators():
    """One ``--NAME`` option per declared exporter option (all exporters share the namespace)."""
    seen = {}
    for name in exporter_names():
        try:
            module = load_exporter(name)
        except Exception as exc:  # a broken plug-in must not break the whole CLI
            log.debug("target %s not loadable: %s", name, exc)
            continue
        for opt in exporter_options(module):
            seen.setdefault(opt.name, (opt, []))[1].append(name)
    decorators = []
    for opt, owners in seen.values():
        kwargs = {"default": None, "help": f"[{'/'.join(owners)}] {opt.help} (default: {opt.default})"}
        if opt.choices:
            kwargs["type"] = click.Choice(opt.choices)
        elif opt.type is bool:
            kwargs.update(type=click.BOOL)
        else:
            kwargs["type"] = opt.type
        decorators.append(click.option("--" + opt.name.replace("_", "-"), opt.name, **kwargs))
    return decorators


def exporter_option_group(fn):
    """Every exporter's own options (None = not given), as ``target_options``."""
    return option_group("target_options", _exporter_option_decorators())(fn)


cluster_option = option_group("cluster", [
    click.option("--cluster", metavar="ADDRESS", help="Run the per-frame work (and the track solves) as Dask tasks: "
                 "tcp://scheduler:8786 joins a running cluster, local:N starts N worker processes here "
                 "(pip install 'm2fp-roto[dask]')."),
], lambda cluster: cluster)
"""``--cluster ADDRESS`` as one ``cluster`` value; :func:`m2fp_roto.farm.cluster.client_for` opens it."""
