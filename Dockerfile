FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    FILELINKS_DATA_DIR=/data

WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY src ./src
COPY migrations ./migrations
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /nonexistent filelinks \
    && mkdir -p /data \
    && chown filelinks /data

USER filelinks
VOLUME ["/data"]
EXPOSE 12111

HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:12111/healthz', timeout=2).status == 200 else 1)"]

CMD ["filelinks-api", "serve", "--host", "0.0.0.0", "--port", "12111"]
