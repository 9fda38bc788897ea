# The archive API on a slim Python base, running as a non-root user.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY service ./service
COPY sql ./sql
COPY migrations ./migrations
# The wheel carries sql/ and migrations/, so the installed command runs from any directory.
RUN pip install -c constraints.txt . \
    && rm -rf /app/service /app/sql /app/migrations \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin archive

USER 10001
EXPOSE 9000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:9000/api/v1/health', timeout=3).status != 200)"]
CMD ["mocbot-archive", "serve"]
