# One image for api, worker and migrate (the command differs). Used by docker-compose.yml.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY api api
COPY activities activities
COPY workflows workflows
COPY models models
COPY scheduling scheduling
COPY propagation propagation
COPY events events
COPY emulators emulators
COPY canonical canonical
COPY platforms platforms
COPY transform transform
COPY reconcile reconcile
COPY store store
COPY devstack devstack
COPY cli cli
COPY worker.py settings.py ./
RUN pip install . && useradd --system --uid 10001 structural
USER structural
EXPOSE 8000
CMD ["structural", "api", "--host", "0.0.0.0"]
