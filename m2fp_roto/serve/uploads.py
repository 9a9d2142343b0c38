"""What comes in over the network, checked before anything trusts it.

- :class:`BodyLimit` stops a request body at ``--max-upload`` bytes (413), whether or not the
  client announced its length.
- :func:`sniff` tells a file's type from its first bytes, never from its name or the client's
  Content-Type (415 for anything else).
- :func:`decode_image` refuses images above ``--max-pixels`` from the header, before decoding
  a byte of pixels (decompression bombs: 413), and truncated or corrupt files (400).
- :func:`plan_zip` reads only a zip's directory and refuses members that would land outside
  the job folder (``../``, absolute paths, drive letters, backslashes, symlinks), too many or
  too large members; :func:`extract_zip` then writes only those planned members, under fixed
  folder names with checked file names.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import ApiError, megabytes, megapixels

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".exr", ".tif", ".tiff", ".dpx"}
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._()+-]{0,150}")
_SIGNATURES = (
    (b"\xff\xd8\xff", "jpeg", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", "png", ".png"),
    (b"PK\x03\x04", "zip", ".zip"),
    (b"PK\x05\x06", "zip", ".zip"),  # an empty archive
    (b"v/1\x01", "exr", ".exr"),
    (b"II*\x00", "tiff", ".tif"),
    (b"MM\x00*", "tiff", ".tif"),
    (b"SDPX", "dpx", ".dpx"),
    (b"XPDS", "dpx", ".dpx"),
    (b"\x1aE\xdf\xa3", "movie", ".mkv"),  # Matroska / WebM
)
_MOVIE_BOXES = (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip")  # QuickTime / MP4 atoms
MOVIE_SUFFIXES = {".mp4", ".mov", ".m4v", ".mkv", ".webm", ".mxf", ".avi"}


# --------------------------------------------------------------------------- request body

class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes is answered 413.

    A declared ``Content-Length`` over the limit is refused before reading anything; a body
    without one (chunked) is counted as it arrives and stopped at the limit.
    """

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    def too_large(self) -> ApiError:
        return ApiError(413, f"the upload is larger than this server's limit of {megabytes(self.limit)} "
                             "(--max-upload)")

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or ()).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            from .app import error_response  # (the app imports this module)

            return await error_response(self.too_large())(scope, receive, send)
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise self.too_large()
            return message

        await self.app(scope, counted, send)


# --------------------------------------------------------------------------- file types

def sniff(head: bytes) -> tuple[str, str] | None:
    """``(kind, suffix)`` of a file from its first bytes: kind is jpeg, png, zip, exr, tiff,
    dpx or movie; None when it is none of them."""
    for magic, kind, suffix in _SIGNATURES:
        if head.startswith(magic):
            return kind, suffix
    if len(head) >= 8 and head[4:8] in _MOVIE_BOXES:
        return "movie", ".mp4"
    return None


def safe_name(name: str | None, suffix: str, default: str = "upload") -> str:
    """A file name that is safe to create in a job folder: the client's base name with every
    character outside ``[A-Za-z0-9 ._()+-]`` replaced, and the sniffed ``suffix``."""
    base = re.split(r"[/\\]", name or "")[-1]
    stem = re.sub(r"[^A-Za-z0-9 ._()+-]", "_", Path(base).stem).strip(" .") or default
    if Path(base).suffix.lower() in MOVIE_SUFFIXES and suffix in (".mp4", ".mkv"):
        suffix = Path(base).suffix.lower()  # .mov and .mp4 share their atoms; keep the client's
    return f"{stem[:100]}{suffix}"


def image_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from an image file's header, without decoding pixels; None if unknown."""
    from PIL import Image

    if path.suffix.lower() in (".exr", ".dpx"):
        try:
            import OpenImageIO as oiio
        except ImportError:
            return None
        inp = oiio.ImageInput.open(str(path))
        if inp is None:
            return None
        spec = inp.spec()
        inp.close()
        return max(spec.full_width, spec.width), max(spec.full_height, spec.height)
    try:
        with Image.open(path) as img:
            return img.size
    except Image.DecompressionBombError:
        return (1 << 20, 1 << 20)  # over any sane limit
    except Exception:
        return None  # unreadable: the reader that needs it says why


def check_pixels(width: int, height: int, limit: int, what: str = "the image") -> None:
    if width * height > limit:
        raise ApiError(413, f"{what} is {width}x{height} = {megapixels(width * height)}; this server takes at "
                            f"most {megapixels(limit)} (--max-pixels)")


def decode_image(fileobj, max_pixels: int) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a JPEG or PNG, refusing oversized (413) and unreadable (400) ones."""
    from PIL import Image, UnidentifiedImageError

    fileobj.seek(0)
    try:
        img = Image.open(fileobj)
    except Image.DecompressionBombError as exc:
        raise ApiError(413, f"the image is too large to decode safely: {exc}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ApiError(400, f"cannot decode the image: {exc}") from None
    with img:
        check_pixels(*img.size, max_pixels)
        try:
            img.load()
            rgb = img.convert("RGB")
        except (OSError, SyntaxError, ValueError) as exc:  # truncated or corrupt data
            raise ApiError(400, f"cannot decode the image: {exc}") from None
    return np.asarray(rgb)


# --------------------------------------------------------------------------- zip archives

@dataclass
class ZipPlan:
    """The members of an uploaded zip worth extracting: role -> [(member name, file name)].

    Roles: ``labels`` and ``people`` (members inside folders of those names: label maps and
    person maps, as ``m2fp-roto demo`` writes them), else ``frames``.
    """

    members: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    ignored: int = 0

    @property
    def kind(self) -> str:
        return "labels" if self.members.get("labels") else "frames"

    def count(self, role: str) -> int:
        return len(self.members.get(role, ()))


def _refuse(name: str, why: str) -> ApiError:
    return ApiError(400, f"zip member {name!r} {why}; the archive was refused")


def plan_zip(path: Path, max_frames: int, max_unpacked: int) -> ZipPlan:
    """Check an uploaded zip from its directory alone and say what to extract."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ApiError(400, f"the upload is not a readable zip archive ({exc})") from None
    plan, total, roles_seen = ZipPlan(), 0, {}
    with archive:
        infos = archive.infolist()
        if len(infos) > 3 * max_frames + 100:
            raise ApiError(413, f"the zip holds {len(infos)} members; a job takes at most {max_frames} "
                                "frames (--max-frames)")
        for info in infos:
            name = info.filename
            parts = name.split("/")
            if name.startswith("/") or "\\" in name or re.match(r"[A-Za-z]:", name) or ".." in parts:
                raise _refuse(name, "points outside the archive (absolute path, drive letter, backslash or ..)")
            if (info.external_attr >> 16) & 0o170000 == 0o120000:
                raise _refuse(name, "is a symbolic link")
            if info.is_dir():
                continue
            base, folders = parts[-1], parts[:-1]
            if (any(p.startswith(".") for p in parts) or "__MACOSX" in folders
                    or Path(base).suffix.lower() not in IMAGE_EXTENSIONS):
                plan.ignored += 1
                continue
            if not SAFE_NAME.fullmatch(base):
                raise _refuse(name, "has a file name with characters other than letters, digits, space and ._()+-")
            role = folders[-1].lower() if folders and folders[-1].lower() in ("labels", "people") else "frames"
            if base in roles_seen.setdefault(role, set()):
                raise _refuse(name, f"repeats the file name {base!r} inside {role}/")
            roles_seen[role].add(base)
            total += info.file_size
            plan.members.setdefault(role, []).append((name, base))
    if plan.kind == "labels":
        plan.ignored += plan.count("frames")
        plan.members.pop("frames", None)
    if not plan.members:
        raise ApiError(400, "the zip holds no images (png, jpg, exr, tif, dpx)")
    frames = max(plan.count(role) for role in plan.members)
    if frames > max_frames:
        raise ApiError(413, f"the zip holds {frames} frames; a job takes at most {max_frames} (--max-frames)")
    if total > max_unpacked:
        raise ApiError(413, f"the zip unpacks to {megabytes(total)}; this server takes at most "
                            f"{megabytes(max_unpacked)} unpacked")
    return plan


def check_zip_pixels(path: Path, plan: ZipPlan, max_pixels: int) -> None:
    """Every planned PNG/JPEG/TIFF member within ``max_pixels``, from its header (read from the
    archive without extracting or decoding it)."""
    from PIL import Image

    with zipfile.ZipFile(path) as archive:
        for members in plan.members.values():
            for member, base in members:
                if Path(base).suffix.lower() in (".exr", ".dpx"):
                    continue  # checked by the job from OpenImageIO's header
                try:
                    with archive.open(member) as fh, Image.open(fh) as img:
                        size = img.size
                except Image.DecompressionBombError:
                    size = (1 << 20, 1 << 20)
                except Exception as exc:
                    raise ApiError(400, f"zip member {member!r} is not a readable image ({exc})") from None
                check_pixels(*size, max_pixels, f"zip member {member!r}")


def extract_zip(path: Path, plan: ZipPlan, dest: Path) -> dict[str, Path]:
    """Write the planned members to ``dest/<role>/<file name>``; returns role -> folder.

    Nothing but planned members is written, each under a checked name in a fresh folder.
    """
    folders = {}
    with zipfile.ZipFile(path) as archive:
        for role, members in plan.members.items():
            folder = folders[role] = dest / role
            folder.mkdir(parents=True, exist_ok=False)
            for member, base in members:
                target = folder / base
                if not SAFE_NAME.fullmatch(base) or target.parent != folder:
                    raise _refuse(member, "has an unsafe file name")
                try:
                    with archive.open(member) as src, open(target, "xb") as out:
                        while chunk := src.read(1 << 20):
                            out.write(chunk)
                except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:
                    raise ApiError(400, f"cannot unpack zip member {member!r}: {exc}") from None
    return folders
