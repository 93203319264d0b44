"""``python -m pipeline_engine.cli`` is the ``pipeline-engine`` command."""

from pipeline_engine.cli import main

if __name__ == "__main__":
    main()
