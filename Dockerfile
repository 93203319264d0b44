# One image for the API and the worker (the command picks the role).
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY pipeline_engine ./pipeline_engine
COPY workflows ./workflows
COPY activities ./activities
COPY api ./api
COPY worker.py ./
# /payloads: the shared payload-store volume of docker-compose.yml (a new volume takes this owner)
RUN pip install '.[server]' && useradd --system --uid 10001 pipeline \
    && mkdir /payloads && chown pipeline /payloads
USER pipeline
ENV PIPELINE_ENGINE_LOG_FORMAT=json
CMD ["python", "worker.py"]
