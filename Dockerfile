# The sourcevault image for docker-compose.yml: worker, beat and web run this image with
# different `sourcevault ...` commands. pywb runs from its own image (it pins libraries
# that conflict with Celery's).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    SOURCEVAULT_DATA_DIR=/data
# Debian's chromium: screenshots and the browser capture (SOURCEVAULT_CAPTURE=browser|auto)
RUN apt-get update \
    && apt-get install -y --no-install-recommends chromium \
    && rm -rf /var/lib/apt/lists/*
RUN pip install --no-cache-dir uv
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
COPY schemas schemas
COPY worker worker
COPY archive archive
RUN uv sync --frozen --no-dev
ENV PATH=/app/.venv/bin:$PATH
VOLUME /data
CMD ["sourcevault", "--help"]
