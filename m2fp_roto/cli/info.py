"""``m2fp-roto info``: what a RotoDocument holds, as a table or as JSON."""

from __future__ import annotations


def summary(doc) -> dict:
    """The document's plate, frames, people and parts, and per shape its lifetime, hidden frame
    ranges, key count and point count (JSON-able)."""
    shapes = [{"name": s.name, "person": s.person, "part": s.part, "component": s.component, "hole": s.hole,
               "parent": s.parent, "first": s.frames[0], "last": s.frames[1],
               "hidden": [list(r) for r in s.hidden], "keys": len(s.keys),
               "points": s.n_points} for s in doc.shapes]
    return {
        "width": doc.width, "height": doc.height, "pixel_aspect": doc.pixel_aspect, "fps": doc.fps,
        "first_frame": doc.first_frame, "last_frame": doc.last_frame, "label_set": doc.label_set,
        "source": doc.source, "source_frames": doc.metadata.get("source_frames"), "plate": doc.plate,
        "tool": doc.metadata.get("tool"), "people": doc.people,
        "parts": sorted({s.part for s in doc.shapes}), "holes": sum(s.hole for s in doc.shapes),
        "keys": sum(len(s.keys) for s in doc.shapes), "shapes": shapes,
    }


def table(doc, path) -> list[str]:
    """Lines for a terminal: a header, then one row per shape."""
    info = summary(doc)
    n = doc.last_frame - doc.first_frame + 1
    source = info["source"] or "-"
    if info["source_frames"]:
        source += f" (frames {info['source_frames']})"
    lines = [
        (f"{path}: {doc.width}x{doc.height}, pixel aspect {doc.pixel_aspect:g}, {doc.fps:g} fps, "
         f"frames {doc.first_frame}-{doc.last_frame} ({n}), label set {doc.label_set}"),
        f"source: {source}",
        f"plate: {doc.plate or '-'}",
        f"people: {', '.join(map(str, info['people'])) or '-'}; parts: {', '.join(info['parts']) or '-'}",
        f"{len(doc.shapes)} shapes ({info['holes']} holes), {info['keys']} keys",
    ]
    if not doc.shapes:
        return lines
    head = ("shape", "person", "part", "hole of", "lifetime", "frames", "hidden", "keys", "points")
    rows = [(s["name"], str(s["person"]), s["part"], s["parent"] or "", f"{s['first']}-{s['last']}",
             str(s["last"] - s["first"] + 1), str(sum(b - a + 1 for a, b in s["hidden"])), str(s["keys"]),
             str(s["points"])) for s in info["shapes"]]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    numeric = {1, 5, 6, 7, 8}

    def row(cells):
        return "  ".join(c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return [*lines, "", row(head).rstrip(), *(row(r).rstrip() for r in rows)]
