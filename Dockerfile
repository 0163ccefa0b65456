# syntax=docker/dockerfile:1
# One image per service, from this one Dockerfile:
#
#   docker build --build-arg SERVICE=intake -t putright/intake .
#
# The build stage installs exactly what uv.lock pins for that service (the versions
# CI tested) into a virtual environment, as wheels rather than editable installs.
# The runtime stage is that environment on slim Python: no compilers, no uv, no
# source tree, a non-root user, and nothing it needs to write outside /tmp, so it
# runs with a read-only root filesystem.

ARG PYTHON_VERSION=3.11
ARG UV_VERSION=0.13.9

FROM ghcr.io/astral-sh/uv:${UV_VERSION} AS uv

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ARG SERVICE
RUN case "$SERVICE" in intake|deadlines|letters|reporting) ;; \
      *) echo "build with --build-arg SERVICE=intake|deadlines|letters|reporting" >&2; exit 1 ;; \
    esac
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3 \
    UV_PROJECT_ENVIRONMENT=/app/venv
WORKDIR /src

# Third-party dependencies first: this layer is rebuilt only when the lock changes.
COPY pyproject.toml uv.lock ./
COPY shared/pyproject.toml shared/
COPY services/intake/pyproject.toml services/intake/
COPY services/deadlines/pyproject.toml services/deadlines/
COPY services/letters/pyproject.toml services/letters/
COPY services/reporting/pyproject.toml services/reporting/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-workspace --package "putright-$SERVICE"

# Then Putright's own code: the shared package and the service.
COPY shared shared
COPY services services
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package "putright-$SERVICE"


FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
ARG SERVICE
LABEL org.opencontainers.image.title="putright-${SERVICE}" \
      org.opencontainers.image.description="Putright ${SERVICE} service"

# WeasyPrint (letters' and reporting's PDFs) draws text with Pango; the fonts are
# the letters' fallback. Every image gets them, so any service may render a PDF.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 putright \
    && useradd --system --uid 10001 --gid putright --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin putright

COPY --from=build /app/venv /app/venv
ENV PATH=/app/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    XDG_CACHE_HOME=/tmp/.cache \
    PUTRIGHT_SERVICE=${SERVICE}
WORKDIR /app
USER 10001:10001

# `python -m putright.<service>`: `serve` by default; `migrate` for the migrations.
ENTRYPOINT ["/bin/sh", "-c", "exec python -m \"putright.$PUTRIGHT_SERVICE\" \"$@\"", "putright"]
CMD ["serve"]
