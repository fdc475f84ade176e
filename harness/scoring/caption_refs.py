"""Validate COCO-caption references and predictions into `{image_id: [captions]}` / `{image_id: caption}`.

pycocoevalcap fails on these with bare assertions (or, with `params['image_id'] = cocoRes.getImgIds()`,
silently scores fewer images and changes CIDEr's idf), so every problem here is one `HarnessError` line
naming the source, field and ids (datasets.md §4).
"""

from __future__ import annotations

from typing import Any

from harness.errors import HarnessError
from harness.scoring.coverage import check_coverage, check_unique, examples


def _field(items: list, index: int, field: str, where: str, kind: str) -> Any:
    item = items[index]
    if not isinstance(item, dict) or field not in item:
        raise HarnessError(f"{where}: {kind} #{index} has no field {field!r}")
    value = item[field]
    if field != "caption" and (isinstance(value, bool) or not isinstance(value, int | str)):
        raise HarnessError(f"{where}: {kind} #{index}: {field!r} must be an integer or string, not {value!r}")
    return value


def read_references(references: Any, where: str) -> dict[Any, list[str]]:
    """Reference captions per image: images in `images[]` order, captions in annotation order (as COCO)."""
    if not isinstance(references, dict):
        raise HarnessError(f"{where}: must be a COCO caption object with 'images' and 'annotations'")
    for key in ("images", "annotations"):
        if not isinstance(references.get(key), list):
            raise HarnessError(f"{where}: missing list field {key!r}")
    images, annotations = references["images"], references["annotations"]
    ids = [_field(images, i, "id", where, "image") for i in range(len(images))]
    if not ids:
        raise HarnessError(f"{where}: 'images' is empty")
    check_unique(ids, where=where, field="images[].id")
    refs: dict[Any, list[str]] = {img: [] for img in ids}
    unknown = []
    for i in range(len(annotations)):
        img = _field(annotations, i, "image_id", where, "annotation")
        caption = _field(annotations, i, "caption", where, "annotation")
        if not isinstance(caption, str):
            raise HarnessError(f"{where}: annotation #{i} (image_id {img!r}): 'caption' must be a string")
        if img in refs:
            refs[img].append(caption)
        else:
            unknown.append(img)
    if unknown:
        raise HarnessError(
            f"{where}: {len(unknown)} annotation(s) for image ids not in 'images' ({examples(unknown)})"
        )
    empty = [img for img, caps in refs.items() if not caps]
    if empty:
        raise HarnessError(f"{where}: {len(empty)} image(s) have no reference caption ({examples(empty)})")
    return refs


def read_predictions(predictions: Any, ref_ids: list[Any], where: str, ref_name: str) -> dict[Any, str]:
    """One caption per reference image: missing, duplicated, unknown or differently-typed ids fail."""
    if not isinstance(predictions, list):
        raise HarnessError(f"{where}: must be a JSON array of {{'image_id', 'caption'}} objects")
    ids, captions = [], {}
    for i in range(len(predictions)):
        img = _field(predictions, i, "image_id", where, "prediction")
        caption = _field(predictions, i, "caption", where, "prediction")
        if not isinstance(caption, str):
            raise HarnessError(f"{where}: prediction #{i} (image_id {img!r}): 'caption' must be a string")
        ids.append(img)
        captions[img] = caption
    check_coverage(ref_ids, ids, field="image_id", expected_name=ref_name, given_name=where)
    return captions
