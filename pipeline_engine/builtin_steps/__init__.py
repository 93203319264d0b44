"""The built-in example steps, registered in the default registry on import.

They run the seed pipeline on a small bundled image of crates of tomatoes and lettuces::

    segmentation -> segment_filter -> chord(sahi_detection, detection) -> aggregate_detections
                 -> size_calculator

Importing this package registers ``segmentation``, ``segment_filter``, ``sahi_detection``,
``detection``, ``aggregate_detections`` and ``size_calculator``, and ``detection_batch`` (the
step of a batched detection ``map``: ``examples/crate-species-switch.json``).
"""

from pipeline_engine.builtin_steps._image import IMAGE_DIR_ENV
from pipeline_engine.builtin_steps.aggregation import aggregate_detections
from pipeline_engine.builtin_steps.crate_steps import segment_filter, segmentation
from pipeline_engine.builtin_steps.detection_steps import detection, detection_batch, sahi_detection
from pipeline_engine.builtin_steps.sizing import size_calculator

__all__ = [
    "IMAGE_DIR_ENV",
    "aggregate_detections",
    "detection",
    "detection_batch",
    "sahi_detection",
    "segment_filter",
    "segmentation",
    "size_calculator",
]
