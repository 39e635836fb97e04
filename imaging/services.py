"""Every write of the imaging app: receiving files and moving each image through DESIGN §5.

A Celery task calls `image_asset_process(asset_id=…)`. It first claims the image's lease on the
row locked with SELECT … FOR UPDATE (only an unsettled image whose lease is free or lapsed), and
keeps the lease alive from a renewal thread while it works. Each stage runs in its own transaction,
moves `status` one step and commits only while the lease is still its own. So a duplicate delivery
finds the image leased or settled and does nothing; a crash rolls back only the stage in flight,
whose files are rewritten under the same keys by the rerun; and the lease of a task that died
lapses within seconds, after which the reconciler queues the image again.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import BinaryIO

import pghistory
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.db.models.functions import Now
from django.utils import timezone

from collections_portal.common.leases import (
    Lease,
    LeaseLost,
    LeaseTerms,
    lease_claim,
    lease_stale_requeue,
)
from institutions.models import Institution
from specimens.models import Preparation, Specimen
from specimens.services import catalog_number_normalise, specimen_media_set

from . import images
from .images import ImageRejected
from .models import UNSETTLED, Derivative, ImageAsset, ImagingBatch
from .storage import (
    TooLarge,
    storage_delete,
    storage_delete_prefix,
    storage_keep_copy,
    storage_local_path,
    storage_put,
    storage_put_path,
    storage_put_tree,
)

logger = logging.getLogger(__name__)

Status = ImageAsset.Status
FINAL = {Status.DONE, Status.NEEDS_ATTENTION, Status.FAILED}
SPECS = (Derivative.Spec.THUMB_256, Derivative.Spec.WEB_2048, Derivative.Spec.IIIF_TILES)
SPEC_SIZES = {Derivative.Spec.THUMB_256: 256, Derivative.Spec.WEB_2048: 2048}
# Codes where the bytes are the problem: the row ends failed at once and its files are removed.
PERMANENT = {"too_large", "empty", "unsafe_name", "duplicate", "unsupported_type", "polyglot", "pixel_limit",
             "truncated", "metadata_too_large", "decode_error"}

UNSAFE_NAME = "The file name {name!r} contains a folder path or control characters; rename the file and upload it again."
EMPTY = "The file is empty (0 bytes)."
TOO_LARGE = "The file is larger than the {limit:,}-byte limit for one image."
DUPLICATE = "Same bytes as '{name}' (image {uuid}), received earlier; linked to it and not stored twice."
UNSUPPORTED = "The content is {what}, not JPEG, TIFF or PNG (the file name does not count)."
POLYGLOT = "The file is an image with a ZIP archive appended (a polyglot); export the image again."
GAVE_UP = "Processing stopped {n} times (worker crash or timeout); it will not be tried again automatically."
LINK_NOT_WAITING = "Only an image waiting for a specimen can be linked by hand (this one is {status})."
LINK_OTHER_INSTITUTION = "The specimen belongs to another institution."

DEFAULT_FILENAME_RULES = (r"^(?P<catalog_number>[A-Za-z]{1,10}[0-9]{3,})(?:[_-](?P<order>[0-9]{1,3}))?$",)


def _setting(name: str, default):
    return getattr(settings, name, default)


def imaging_limits() -> images.Limits:
    return images.Limits(
        max_pixels=_setting("IMAGING_MAX_PIXELS", 400_000_000),
        max_side=_setting("IMAGING_MAX_SIDE", 50_000),
        max_exif_bytes=_setting("IMAGING_MAX_EXIF_BYTES", 256 * 1024),
        max_metadata_bytes=_setting("IMAGING_MAX_METADATA_BYTES", 8 * 1024 * 1024),
    )


def imaging_max_upload_bytes() -> int:
    return _setting("IMAGING_MAX_UPLOAD_BYTES", 1024 * 1024 * 1024)


def master_key_for(sha256: str) -> str:
    return f"masters/{sha256[:2]}/{sha256}"


def derivative_prefix(sha256: str) -> str:
    return f"derivatives/{sha256}"


def derivative_key(sha256: str, spec: str) -> str:
    return f"{derivative_prefix(sha256)}/iiif" if spec == Derivative.Spec.IIIF_TILES else f"{derivative_prefix(sha256)}/{spec}.jpg"


# --- receiving --------------------------------------------------------------------------------


@transaction.atomic
def imaging_batch_create(*, institution: Institution, name: str, user=None) -> ImagingBatch:
    batch = ImagingBatch(institution=institution, name=name.strip() or timezone.localtime().strftime("Batch %Y-%m-%d %H:%M"),
                         created_by=user if user and user.is_authenticated else None)
    batch.full_clean()
    batch.save()
    return batch


def _name_is_safe(name: str) -> bool:
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        return False
    return not any(ord(ch) < 32 or ord(ch) == 127 for ch in name)


def _printable(name: str) -> str:
    return "".join(ch if ch.isprintable() else "?" for ch in name)[:255] or "(no name)"


def image_asset_receive(*, batch: ImagingBatch, name: str, source: BinaryIO, size: int | None = None) -> ImageAsset:
    """Store the bytes and record the row; all other work happens in Celery after commit.

    Refusals at the door (unsafe name, empty, too large) are recorded as failed rows with
    nothing stored, so the batch shows every file that was offered.
    """
    asset = ImageAsset(batch=batch, institution_id=batch.institution_id, original_name=_printable(name))
    limit = imaging_max_upload_bytes()
    refusal = None
    if not _name_is_safe(name):
        refusal = ("unsafe_name", UNSAFE_NAME.format(name=_printable(name)))
    elif size == 0:
        refusal = ("empty", EMPTY)
    elif size is not None and size > limit:
        refusal = ("too_large", TOO_LARGE.format(limit=limit))
    else:
        key = f"uploads/{batch.uuid}/{asset.uuid}"
        try:
            asset.bytes = storage_put(key, source, max_bytes=limit)
        except TooLarge:
            refusal = ("too_large", TOO_LARGE.format(limit=limit))
        else:
            if asset.bytes == 0:
                storage_delete(key)
                refusal = ("empty", EMPTY)
            else:
                asset.upload_key = key
    if refusal:
        asset.status, asset.error_code, asset.error_text = Status.FAILED, *refusal
        asset.finished_at = timezone.now()
    try:
        with transaction.atomic():
            asset.save()
            if not refusal:
                image_asset_enqueue(asset_ids=[asset.pk])
    except BaseException:
        storage_delete(asset.upload_key)
        raise
    return asset


def image_asset_enqueue(*, asset_ids: list[int]) -> None:
    """Queue processing once the surrounding transaction commits (never before).

    Stamps `queued_at`, so the reconciler knows each image was sent and when.
    """
    from .tasks import image_asset_process_task  # tasks import this module

    if not asset_ids:
        return
    ImageAsset.objects.filter(pk__in=asset_ids).update(queued_at=Now())
    for asset_id in asset_ids:
        transaction.on_commit(partial(image_asset_process_task.delay, asset_id))


def imaging_batch_ingest_paths(*, batch: ImagingBatch, paths: list[Path]) -> list[ImageAsset]:
    """Files and folders (walked in name order, symlinks skipped) into `batch`."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            for root, dirs, names in os.walk(path):
                dirs.sort()
                files.extend(Path(root) / n for n in sorted(names) if not (Path(root) / n).is_symlink())
        elif path.is_file() and not path.is_symlink():
            files.append(path)
    assets = []
    for file in files:
        with open(file, "rb") as source:
            assets.append(image_asset_receive(batch=batch, name=file.name, source=source, size=file.stat().st_size))
    return assets


# --- the pipeline -----------------------------------------------------------------------------


def _work_root() -> Path:
    return Path(_setting("IMAGING_WORK_DIR", "") or Path(tempfile.gettempdir()) / "imaging-work")


def _work_dir(asset: ImageAsset) -> Path:
    """A scratch folder for this attempt; leftovers of dead attempts on this host are removed."""
    root = _work_root()
    root.mkdir(parents=True, exist_ok=True)
    host = socket.gethostname()
    for old in root.glob(f"{asset.uuid}.{host}.*"):
        pid = int(old.name.rsplit(".", 1)[-1])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(old, ignore_errors=True)
    work = root / f"{asset.uuid}.{host}.{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    return work


def _locked(asset_id: int) -> ImageAsset | None:
    return ImageAsset.objects.select_for_update().filter(pk=asset_id).first()


def _save(asset: ImageAsset, *fields: str) -> None:
    asset.save(update_fields=[*fields, "updated_at"])


def _live_with_sha(asset: ImageAsset):
    return ImageAsset.objects.filter(sha256=asset.sha256).exclude(pk=asset.pk).exclude(status=Status.FAILED)


def _fail(asset: ImageAsset, code: str, message: str) -> None:
    """Record the failure; for a refused file, remove every file only this asset owned.

    The files go once the failed row has committed: a stage killed before its commit leaves the
    row pointing at them, and the rerun must find them. Other failures (a crash loop ending in
    `gave_up`) keep the bytes so "retry failed" can run.
    """
    if code in PERMANENT:
        keys, prefixes = [asset.upload_key], []
        if asset.sha256 and code != "duplicate" and not _live_with_sha(asset).exists():
            keys.append(asset.master_key or master_key_for(asset.sha256))
            prefixes.append(derivative_prefix(asset.sha256))
        transaction.on_commit(partial(_files_remove, keys=keys, prefixes=prefixes))
        asset.derivatives.all().delete()
        asset.upload_key = ""
        asset.master_key = ""
    asset.status, asset.error_code, asset.error_text = Status.FAILED, code, message
    asset.finished_at = timezone.now()
    _save(asset, "status", "error_code", "error_text", "finished_at", "upload_key", "master_key",
          "sha256", "bytes", "duplicate_of")


def _files_remove(*, keys: list[str], prefixes: list[str]) -> None:
    """After a commit: remove files no row points at any more (a failure here leaves an orphan,
    which imaging_orphans_find lists, never a row pointing at nothing)."""
    try:
        for key in keys:
            storage_delete(key)
        for prefix in prefixes:
            storage_delete_prefix(prefix)
    except OSError:
        logger.warning("imaging: removing %s %s failed; they are orphans now", keys, prefixes, exc_info=True)


# --- the lease -------------------------------------------------------------------------------
# The one lease of collections_portal/common/leases.py, with imaging's settings and statuses.

IMAGING_LEASE = LeaseTerms(seconds_setting="IMAGING_LEASE_SECONDS", renew_setting="IMAGING_LEASE_RENEW_SECONDS",
                           attempts_setting="IMAGING_MAX_ATTEMPTS")


def image_asset_process(*, asset_id: int) -> str | None:
    """Claim the image's lease, run every stage still to do while renewing it, release it.

    Returns the final status, or None when there was nothing to do: the image is gone, settled,
    or leased by another live task (which finishes it, or dies and lets the lease lapse).
    """
    # The claim takes NO KEY UPDATE: a stage inserting Derivative rows (a key-share lock) does not block it.
    asset, owner, gave_up = lease_claim(
        ImageAsset.objects.all(), pk=asset_id, unsettled=UNSETTLED, terms=IMAGING_LEASE,
        gave_up=lambda asset: _fail(asset, "gave_up", GAVE_UP.format(n=asset.attempts)),
        start=lambda asset: {"updated_at": timezone.now()})
    if owner is None:
        return asset.status if gave_up else None
    lease = Lease(ImageAsset, asset_id, owner, terms=IMAGING_LEASE)
    with lease.kept():
        return _stages_run(asset, lease)


def _stages_run(asset: ImageAsset, lease: Lease) -> str | None:
    """Each stage in its own transaction, committed only while the lease is ours.

    The row is read without a lock: the lease keeps other tasks out, and a row lock held through
    a long stage would block the renewals until the lease lapsed under a live task.
    """
    work = _work_dir(asset)
    try:
        for from_status, stage in STAGES:
            with transaction.atomic(), pghistory.context(action=f"imaging.{stage.__name__.lstrip('_')}"):
                asset = lease.mine().first()
                if asset is None or asset.status in FINAL:
                    return asset.status if asset else None  # settled, or no longer ours
                if asset.status != from_status:
                    continue  # this stage was done by an earlier attempt
                try:
                    stage(asset, work)
                except ImageRejected as exc:
                    lease.fence()  # before _fail removes any file
                    _fail(asset, exc.code, exc.message)
                    return asset.status
                lease.fence()
        return asset.status
    except LeaseLost:
        return None  # the stage rolled back; the task that holds the lease now finishes the image
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _stage_checksum(asset: ImageAsset, work: Path) -> None:
    """received → verified: streamed SHA-256; the same bytes again become a duplicate."""
    import hashlib

    digest, size = hashlib.sha256(), 0
    with default_storage.open(asset.upload_key, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    asset.sha256, asset.bytes = digest.hexdigest(), size
    first = (ImageAsset.objects.filter(institution_id=asset.institution_id, sha256=asset.sha256)
             .exclude(pk=asset.pk).exclude(status=Status.FAILED).order_by("pk").first())
    if first is None:
        asset.status, asset.verified_at = Status.VERIFIED, timezone.now()
        try:
            with transaction.atomic():
                _save(asset, "sha256", "bytes", "status", "verified_at")
            return
        except IntegrityError:  # the same bytes committed by a parallel worker a moment ago
            first = (ImageAsset.objects.filter(institution_id=asset.institution_id, sha256=asset.sha256)
                     .exclude(pk=asset.pk).exclude(status=Status.FAILED).order_by("pk").first())
            asset.status = Status.RECEIVED
    asset.duplicate_of = first  # saved by _fail together with the failed status
    raise ImageRejected("duplicate", DUPLICATE.format(name=first.original_name, uuid=first.uuid))


def _stage_validate(asset: ImageAsset, work: Path) -> None:
    """verified → validated: content sniffed, header-only caps, then kept as the master."""
    limits = imaging_limits()
    master_key = master_key_for(asset.sha256)
    # A crash after the move below but before the commit leaves the bytes at the master key.
    # The upload stays until the identify stage, after this row has committed, so a rerun of this
    # stage (killed before its commit) reads it again; an earlier run may have made the master.
    source_key = asset.upload_key if asset.upload_key and default_storage.exists(asset.upload_key) else master_key
    with storage_local_path(source_key, work_dir=work) as path:
        with open(path, "rb") as f:
            head = f.read(4096)
            f.seek(max(0, asset.bytes - 65_557))  # a ZIP directory sits in the last 64 KiB + 22
            tail = f.read()
        mime_type = images.sniff(head)
        if mime_type is None:
            raise ImageRejected("unsupported_type", UNSUPPORTED.format(what=images.describe(head)))
        if images.find_zip_directory(tail, asset.bytes):
            raise ImageRejected("polyglot", POLYGLOT)
        images.metadata_bytes(path, mime_type, limits)
        header = images.read_header(path, mime_type, limits)
    if source_key != master_key and not default_storage.exists(master_key):  # else: same bytes stored already
        storage_keep_copy(asset.upload_key, master_key)
    asset.mime_type, asset.width, asset.height, asset.exif = mime_type, header.width, header.height, header.exif
    asset.master_key = master_key
    asset.status, asset.validated_at = Status.VALIDATED, timezone.now()
    _save(asset, "mime_type", "width", "height", "exif", "master_key", "status", "validated_at")


def _upload_release(asset: ImageAsset) -> None:
    """Remove the received bytes once a committed row points at the master (they are the same bytes).

    A rerun after a crash finds the file gone and only clears the key."""
    if asset.upload_key:
        storage_delete(asset.upload_key)
        asset.upload_key = ""


def _scan(asset: ImageAsset, work: Path):
    target = work / "scan.tif"
    if target.exists():
        return images.load(target, images.TIFF)
    with storage_local_path(asset.master_key, work_dir=work) as path:
        return images.scan_copy(path, asset.mime_type, size=_scan_px(), target=target)


def _scan_px() -> int:
    return _setting("IMAGING_BARCODE_SCAN_PX", 2500)


def _filename_match(name: str) -> tuple[str, int] | None:
    stem = Path(name).stem
    for rule in _setting("IMAGING_FILENAME_RULES", DEFAULT_FILENAME_RULES):
        m = re.match(rule, stem)
        if m:
            order = m.groupdict().get("order")
            return m.group("catalog_number"), int(order) if order else 0
    return None


# --- reading codes and linking ------------------------------------------------------------------
# Every code read is kept on the row with what became of it, so the unmatched queue can say what
# was read and why it did not link. An exact catalogue number or preparation barcode links even
# when it fits no collection's pattern: patterns only decide which codes are tried first.

CODE_MAX_LENGTH = 64  # longer than any catalogue number or preparation barcode we store
CODE_SHOWN_LENGTH = 80
WEB_ADDRESS = re.compile(r"^(?:[a-z][a-z0-9+.-]*:/|www\.)", re.IGNORECASE)
NEAR_MATCHES = 3

# Why a code read in the image did or did not link; {…} filled per code.
CODE_OUTCOMES = {
    "linked": "linked",
    "not_tried": "not needed: another code linked",
    "no_such_number": "no specimen or preparation at {institution} has this number",
    "other_collection": "fits the barcode pattern of {collection}, another institution's collection",
    "ambiguous": "matches {n} specimens at {institution}",
    "web_address": "a web address, not a catalogue number",
    "control_characters": "holds control characters, so it was not looked up",
    "too_long": "{length} characters long, more than any catalogue number, so it was not looked up",
}
UNMATCHED = "Read {n} code{s}, none linked at {institution}: {details}."
UNMATCHED_FILENAME = "file name rule gave {code}: {why}"
UNMATCHED_NO_CODE = "No barcode was found in the image and the file name matches no naming rule."


def _code_shown(text: str) -> str:
    """The code as it can be stored and shown: control characters escaped, very long text cut."""
    shown = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" if ord(ch) < 256 else f"\\u{ord(ch):04x}"
                    for ch in text[:CODE_SHOWN_LENGTH])
    return shown + ("…" if len(text) > CODE_SHOWN_LENGTH else "")


def _code_refusal(text: str) -> str | None:
    """Codes never looked up: they cannot be a catalogue number, and must not be matched blindly."""
    if any(not ch.isprintable() for ch in text):
        return "control_characters"
    if len(text) > CODE_MAX_LENGTH:
        return "too_long"
    if WEB_ADDRESS.match(text):
        return "web_address"
    return None


def _specimens_for(institution_id: int, collection_ids: list[int], code: str) -> tuple[list[int], str]:
    # By collection: the (collection, catalog_number_normalised) index answers it at 10 M rows.
    ids = list(Specimen.objects.filter(collection_id__in=collection_ids, catalog_number_normalised=catalog_number_normalise(code))
               .values_list("pk", flat=True)[:5])
    if ids:
        return ids, ImageAsset.LinkMethod.BARCODE
    ids = list(Preparation.objects.filter(institution_id=institution_id, barcode=code)
               .values_list("specimen_id", flat=True)[:5])
    return ids, ImageAsset.LinkMethod.PREPARATION


def _near_catalog_numbers(collection_ids: list[int], code: str) -> list[str]:
    """Catalogue numbers one keystroke from `code` (a digit changed, dropped, added, or two swapped):
    the record whose number was mistyped on import, offered for a one-click link. One indexed IN."""
    key = catalog_number_normalise(code)
    if not key or len(key) > CODE_MAX_LENGTH:
        return []
    variants = set()
    for i in range(len(key) + 1):
        for digit in "0123456789":
            variants.add(key[:i] + digit + key[i:])
            if i < len(key):
                variants.add(key[:i] + digit + key[i + 1:])
        if i < len(key):
            variants.add(key[:i] + key[i + 1:])
        if i + 1 < len(key):
            variants.add(key[:i] + key[i + 1] + key[i] + key[i + 2:])
    variants = {catalog_number_normalise(v) for v in variants} - {key, ""}
    return list(Specimen.objects.filter(collection_id__in=collection_ids, catalog_number_normalised__in=variants)
                .order_by("catalog_number").values_list("catalog_number", flat=True)[:NEAR_MATCHES])


@dataclass
class _Reading:
    codes: list[dict]  # as stored in ImageAsset.barcodes, each with its outcome
    by_name: tuple[str, str, int] | None = None  # (code, outcome, matches) of the file-name rule


def _patterns(values) -> list[re.Pattern]:
    compiled = []
    for value in values:
        try:
            compiled.append(re.compile(value))
        except re.error:  # a collection's broken pattern ranks nothing; it must not stop the image
            logger.warning("imaging: barcode pattern %r is not a valid regular expression", value)
    return compiled


def _codes_link(asset: ImageAsset, found: list[dict]) -> _Reading:
    """Try the codes read (those fitting this institution's patterns first), then the file-name rule.

    Sets the specimen and link method on `asset` when one code names exactly one specimen.
    """
    from institutions.models import Collection

    collections = list(Collection.objects.filter(institution_id=asset.institution_id).values_list("pk", "barcode_pattern"))
    collection_ids = [pk for pk, _ in collections]
    own_patterns = _patterns(p for _, p in collections if p)
    reading, tries = _Reading(codes=[]), []
    for item in found:
        code = {"text": _code_shown(item["text"]), "format": item["format"]}
        refusal = _code_refusal(item["text"])
        if refusal:
            code["outcome"], code["length"] = refusal, len(item["text"])
        else:
            fits = any(p.search(item["text"]) for p in own_patterns)
            tries.append((0 if fits else 1, len(tries), code, item["text"], None))
        reading.codes.append(code)
    tries.sort(key=lambda t: t[:2])  # patterns rank the codes, they never hide one; else reading order
    by_name = _filename_match(asset.original_name)
    if by_name:
        tries.append((2, len(tries), None, *by_name))
    asset.specimen, asset.link_method = None, ""
    for _rank, _i, code, text, order in tries:
        if asset.specimen_id is not None:
            if code is not None:
                code["outcome"] = "not_tried"
            continue
        ids, method = _specimens_for(asset.institution_id, collection_ids, text)
        outcome = "linked" if len(ids) == 1 else "ambiguous" if ids else "no_such_number"
        if outcome == "linked":
            asset.specimen_id = ids[0]
            asset.link_method = ImageAsset.LinkMethod.FILENAME if order is not None else method
            asset.order = order or 0
        if code is None:
            reading.by_name = (text, outcome, len(ids))
            continue
        code["outcome"] = outcome
        if outcome == "ambiguous":
            code["matches"] = len(ids)
        elif outcome == "no_such_number":
            elsewhere = _other_collection_fitting(asset.institution_id, text)
            if elsewhere:
                code["outcome"], code["collection"] = "other_collection", elsewhere
            code["near"] = _near_catalog_numbers(collection_ids, text)
    return reading


def _other_collection_fitting(institution_id: int, text: str) -> str:
    """'K:BOT (Herbarium)' when the code fits the pattern of a collection at another institution."""
    from institutions.models import Collection

    for code, name, institution, pattern in (Collection.objects.exclude(institution_id=institution_id)
                                             .exclude(barcode_pattern="").order_by("institution__code", "code")
                                             .values_list("code", "name", "institution__code", "barcode_pattern")):
        try:
            if re.search(pattern, text):
                return f"{institution}:{code} ({name})"
        except re.error:
            continue
    return ""


FORMAT_NAMES = {"Code128": "Code 128", "QRCode": "QR code", "DataMatrix": "Data Matrix"}


def code_outcome_text(code: dict, institution: str) -> str:
    """One stored code's outcome as a phrase ("no specimen or preparation at NHMUK has this number")."""
    template = CODE_OUTCOMES.get(code.get("outcome", ""), "")
    return template.format(institution=institution, collection=code.get("collection", ""),
                           n=code.get("matches", 0), length=code.get("length", 0))


def _unmatched_text(asset: ImageAsset, reading: _Reading) -> str:
    institution = asset.institution.code
    details = [f"{c['text']} ({FORMAT_NAMES.get(c['format'], c['format'])}) {code_outcome_text(c, institution)}"
               for c in reading.codes]
    if reading.by_name:
        text, outcome, n = reading.by_name
        details.append(UNMATCHED_FILENAME.format(code=text, why=code_outcome_text({"outcome": outcome, "matches": n},
                                                                                 institution)))
    if not reading.codes:
        return UNMATCHED_NO_CODE if not reading.by_name else f"No barcode was found in the image; {details[0]}."
    return UNMATCHED.format(n=len(reading.codes), s="" if len(reading.codes) == 1 else "s", institution=institution,
                            details="; ".join(details))


def _full_pass_wanted(asset: ImageAsset) -> bool:
    """A full-resolution read can add something only when the master is larger than the scan copy."""
    return max(asset.width or 0, asset.height or 0) > _scan_px()


def _stage_identify(asset: ImageAsset, work: Path) -> None:
    """validated → identified: barcodes from a ~2,500 px copy; when none of them links, the master
    read again at full resolution (narrow bars vanish in the small copy); then the file-name rule."""
    _upload_release(asset)
    found = images.read_barcodes(_scan(asset, work))
    reading = _codes_link(asset, found)
    if asset.specimen_id is None and _full_pass_wanted(asset):

        def links(new: list[dict]) -> bool:  # after each strip with new codes: stop once one links
            nonlocal reading
            found.extend(b for b in new if all(b["text"] != f["text"] for f in found))
            reading = _codes_link(asset, found)
            return asset.specimen_id is not None

        with storage_local_path(asset.master_key, work_dir=work) as path:
            images.read_barcodes_full(path, asset.mime_type, enough=links)
    asset.barcodes = reading.codes
    asset.error_code, asset.error_text = "", ""
    if asset.specimen_id is None:
        outcomes = [c.get("outcome") for c in reading.codes] + [reading.by_name[1] if reading.by_name else None]
        asset.error_code = "ambiguous" if "ambiguous" in outcomes else "unmatched"
        asset.error_text = _unmatched_text(asset, reading)
    asset.status, asset.identified_at = Status.IDENTIFIED, timezone.now()
    _save(asset, "barcodes", "specimen", "link_method", "order", "error_code", "error_text", "status", "identified_at",
          "upload_key")


def derivatives_ensure(*, asset: ImageAsset, work: Path) -> list[Derivative]:
    """Build only the specs that have no row yet; files first, then the row (get_or_create)."""
    existing = set(asset.derivatives.values_list("spec", flat=True))
    made = []
    for spec in SPECS:
        if spec in existing:
            continue
        key = derivative_key(asset.sha256, spec)
        if spec in SPEC_SIZES:
            local = work / f"{spec}.jpg"
            width, height = images.save_resized(_scan(asset, work), local, size=SPEC_SIZES[spec])
            size = storage_put_path(key, local)
        else:
            with storage_local_path(asset.master_key, work_dir=work) as path:
                size = storage_put_tree(key, partial(images.save_tiles, path, asset.mime_type,
                                                     orientation=asset.exif.get("orientation", 1)), work_dir=work)
            width, height = asset.width, asset.height
        derivative, _ = Derivative.objects.get_or_create(
            asset=asset, spec=spec, defaults={"key": key, "bytes": size, "width": width, "height": height})
        made.append(derivative)
    return made


def _stage_render(asset: ImageAsset, work: Path) -> None:
    """identified → rendered: thumbnail and web copy from the scan copy, tiles from the master."""
    derivatives_ensure(asset=asset, work=work)
    asset.status, asset.rendered_at = Status.RENDERED, timezone.now()
    _save(asset, "status", "rendered_at")


def _media_refresh(specimen_id: int) -> None:
    assets = (ImageAsset.objects.filter(specimen_id=specimen_id, status__in=[Status.LINKED, Status.DONE])
              .order_by("order", "id").values("uuid", "order", "width", "height", "licence", "kind"))
    media = [{**a, "uuid": str(a["uuid"]), "iiif_service": f"/iiif/3/{a['uuid']}"} for a in assets]
    specimen_media_set(specimen_id=specimen_id, media=media)


def _link(asset: ImageAsset) -> None:
    if not asset.order:
        top = ImageAsset.objects.filter(specimen_id=asset.specimen_id).exclude(pk=asset.pk).aggregate(m=Max("order"))["m"]
        asset.order = (top or 0) + 1
    asset.status, asset.linked_at = Status.LINKED, timezone.now()
    _save(asset, "order", "status", "linked_at", "specimen", "link_method", "error_code", "error_text")
    _media_refresh(asset.specimen_id)


def _stage_link(asset: ImageAsset, work: Path) -> None:
    """rendered → linked, or → needs_attention for a curator to resolve."""
    if asset.specimen_id is None:
        asset.status, asset.finished_at = Status.NEEDS_ATTENTION, timezone.now()
        _save(asset, "status", "finished_at")
        return
    _link(asset)


def _stage_finish(asset: ImageAsset, work: Path) -> None:
    asset.status, asset.finished_at = Status.DONE, timezone.now()
    _save(asset, "status", "finished_at")


STAGES = (
    (Status.RECEIVED, _stage_checksum),
    (Status.VERIFIED, _stage_validate),
    (Status.VALIDATED, _stage_identify),
    (Status.IDENTIFIED, _stage_render),
    (Status.RENDERED, _stage_link),
    (Status.LINKED, _stage_finish),
)


# --- curator actions and housekeeping ---------------------------------------------------------


@transaction.atomic
def image_asset_link(*, asset: ImageAsset, specimen: Specimen, user=None) -> ImageAsset:
    """Resolve an unmatched image by hand."""
    from django.core.exceptions import ValidationError

    with pghistory.context(user=getattr(user, "pk", None), action="image_asset_link"):
        asset = _locked(asset.pk)
        if asset.status != Status.NEEDS_ATTENTION:
            raise ValidationError({"specimen": LINK_NOT_WAITING.format(status=asset.get_status_display().lower())})
        if specimen.institution_id != asset.institution_id:
            raise ValidationError({"specimen": LINK_OTHER_INSTITUTION})
        asset.specimen, asset.link_method, asset.error_code, asset.error_text = specimen, ImageAsset.LinkMethod.MANUAL, "", ""
        _link(asset)
        _stage_finish(asset, Path())
    return asset


@transaction.atomic
def imaging_batch_retry_failed(*, batch: ImagingBatch) -> int:
    """Re-enqueue the failed items that can heal (crashes, timeouts); refused files stay refused."""
    ids = list(batch.assets.select_for_update().filter(status=Status.FAILED).exclude(error_code__in=PERMANENT)
               .values_list("pk", flat=True))
    for asset in ImageAsset.objects.filter(pk__in=ids):
        asset.status = (Status.VALIDATED if asset.master_key else Status.RECEIVED)
        asset.attempts, asset.error_code, asset.error_text, asset.finished_at = 0, "", "", None
        _save(asset, "status", "attempts", "error_code", "error_text", "finished_at")
    image_asset_enqueue(asset_ids=ids)
    return len(ids)


def image_asset_reenqueue_stale(*, patience: timedelta | None = None) -> int:
    """The reconciler (beat every 30 s, and each worker start): queue again the images nobody works on.

    - A lapsed lease: its task died (a killed worker, an OOM-killed pool child, a hard time
      limit). Queued once per lapse: queuing stamps `queued_at`, which is then later than the lease.
    - No live lease and queued longer ago than `patience` (30 min): the message itself was lost
      (a worker died between taking it and claiming the lease). A long queue is sent again only
      once per `patience`, and each copy finds the image settled by then.
    A row locked right now (a claim, a stage committing) is skipped, so nothing waits here. No
    worker is asked what it runs: the status and the lease answer it.
    """
    if patience is None:
        patience = timedelta(seconds=settings.IMAGING_REQUEUE_PATIENCE_SECONDS)
    # unsent_waits=False: every image is queued in the transaction that records it, so one never
    # sent was made some other way (a script, the admin) and is sent at once.
    ids = lease_stale_requeue(ImageAsset.objects.all(), unsettled=UNSETTLED, patience=patience,
                              requeue=lambda ids: image_asset_enqueue(asset_ids=ids), unsent_waits=False)
    if ids:
        logger.info("imaging: queued again images %s (lease lapsed or message lost)", ids)
    return len(ids)


def imaging_orphans_find() -> list[str]:
    """Files under masters/, derivatives/ and uploads/ that no row accounts for (local disk)."""
    root = Path(default_storage.path(""))
    live_masters = set(ImageAsset.objects.exclude(master_key="").values_list("master_key", flat=True))
    live_uploads = set(ImageAsset.objects.exclude(upload_key="").values_list("upload_key", flat=True))
    live_prefixes = {k for k in Derivative.objects.values_list("key", flat=True)}
    orphans = []
    for base in ("masters", "derivatives", "uploads"):
        for path in sorted((root / base).rglob("*")) if (root / base).exists() else []:
            if not path.is_file():
                continue
            key = path.relative_to(root).as_posix()
            if key in live_masters or key in live_uploads or key in live_prefixes:
                continue
            if any(key.startswith(p + "/") for p in live_prefixes):
                continue
            orphans.append(key)
    return orphans

