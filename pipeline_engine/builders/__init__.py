r"""Write pipelines in Python instead of JSON, in the spirit of Celery's canvas.

Every builder returns the DSL's pydantic models, so the result *is* the DSL's wire format
(docs/dsl.md)::

    from pipeline_engine import chain, chord, group, pipeline, step

    config = pipeline(
        "cultivos-abc",
        chain(
            step("segmentation"),
            chord(
                group(
                    step("sahi_detection", segment_type="claro-cajon"),
                    step("detection", segment_type="cajon"),
                ),
                step("aggregate_detections"),
            ),
            step("size_calculator"),
        ),
    )
    to_wire(config)  # the JSON document, exactly as a user would write it

Conditions and choices: every builder takes ``when="<CEL>"``; :func:`switch` with :func:`case`\s
picks a branch; :func:`sub_pipeline` runs another pipeline of the tenant; :func:`expr` is a step
argument computed when the stage starts (docs/dsl.md)::

    switch(
        case("settings.species == 'tomato'", step("sahi_detection")),
        default=step("detection", min_area=expr("settings.min_area")),
    )

Wherever an element is expected, a bare string is shorthand for ``step(name)``. Only the fields you
give are written: :func:`to_wire` dumps what was set (``exclude_unset``), so a built tree is
byte-for-byte the document you would have written by hand.
"""

from pipeline_engine.builders._configs import dag, pipeline, stage
from pipeline_engine.builders._elements import (
    ElementLike,
    chain,
    chord,
    for_each,
    group,
    human_input,
    task,
)
from pipeline_engine.builders._flow import case, expr, sub_pipeline, switch
from pipeline_engine.builders._wire import to_wire

__all__ = [
    "ElementLike",
    "case",
    "chain",
    "chord",
    "dag",
    "expr",
    "for_each",
    "group",
    "human_input",
    "pipeline",
    "stage",
    "sub_pipeline",
    "switch",
    "task",
    "to_wire",
]
