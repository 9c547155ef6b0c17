# One image for every Accord process; docker-compose.yml picks the command (web, worker, beat).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    FEDERATION_HOME=/var/lib/accord

WORKDIR /app
COPY pyproject.toml README.md manage.py ./
COPY federation ./federation
COPY compliance ./compliance
COPY peers ./peers
COPY templates ./templates
COPY static ./static
RUN pip install --no-cache-dir . \
    && useradd --system --home-dir /var/lib/accord --create-home accord

USER accord
VOLUME ["/var/lib/accord"]
EXPOSE 8000 8001
ENTRYPOINT ["federation"]
CMD ["web", "--host", "0.0.0.0", "--port", "8000"]
