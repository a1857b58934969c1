# One image for the API and the worker; docker-compose.yml picks the command.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY requirements.txt requirements-local.txt* scripts/ ./scripts-tmp/
RUN pip install --no-cache-dir -r scripts-tmp/requirements.txt
COPY . .
RUN if [ -f scripts/install-local.sh ]; then sh scripts/install-local.sh /usr/local; fi
RUN useradd -r -u 10001 mms && mkdir -p /data/blobs && chown -R mms /data
USER mms
ENV MMS_BLOB_DIR=/data/blobs
EXPOSE 8000
CMD ["gunicorn", "app:app", "-b", "0.0.0.0:8000", "-w", "4", "--threads", "4", "--timeout", "60"]
