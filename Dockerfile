# syntax=docker/dockerfile:1

# --- Stage 1: front-end assets (htmx + ws extension) -----------------------------------
FROM node:20-slim AS assets
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

# --- Stage 2: application ---------------------------------------------------------------
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system setroom \
    && useradd --system --gid setroom --home-dir /srv/setroom --no-create-home setroom \
    && mkdir -p /data \
    && chown setroom:setroom /data

WORKDIR /srv/setroom

COPY pyproject.toml ./
COPY app ./app
COPY migrations ./migrations
COPY alembic.ini ./
RUN pip install --no-cache-dir .

# Same layout as a checkout: node_modules next to app/.
COPY --from=assets /build/node_modules ./node_modules

ENV SETROOM_DATABASE_URL=sqlite:////data/setroom.db
VOLUME /data
EXPOSE 8000

# Liveness: /healthz answers while the process serves. Not /readyz: a Redis or database blip
# makes every replica unready at once, and a restart (what an unhealthy container may get) would
# not help; let a load balancer or orchestrator read /readyz to route traffic instead.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

USER setroom
CMD ["python", "-m", "app", "--host", "0.0.0.0"]
