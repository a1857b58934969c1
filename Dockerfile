# One image for the API, the workers and Flower; docker-compose.yml picks the command.
#
# Layers, from the least to the most often changed: the pinned dependencies and the offline
# engines (their models ship inside the wheels, ~1 GB) are installed from the requirements files
# alone, so editing the code rebuilds only the last `COPY . .` layer. What `COPY . .` must never
# bring in (the dev venv, var/ with users' media and the Redis AOF holding the generated webhook
# secret, .git) is listed in .dockerignore.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY requirements.txt requirements-monitoring.txt ./
RUN pip install -r requirements.txt -r requirements-monitoring.txt

# The offline engines (mmservice/providers/local), with the same script as `make run`.
COPY requirements-local.txt ./
COPY scripts/install-local.sh scripts/
RUN sh scripts/install-local.sh /usr/local

# An unprivileged user that cannot write the code; it writes /data (blobs), /tmp and its home
# (libraries' caches).
RUN useradd --system --uid 10001 --create-home --shell /usr/sbin/nologin mms \
    && mkdir -p /data/blobs && chown -R mms /data
COPY . .
USER mms
ENV MMS_BLOB_DIR=/data/blobs
EXPOSE 8000
# No HEALTHCHECK here: the same image runs workers, whose check is a Celery ping; each service's
# check is in docker-compose.yml. `--no-control-socket`: nothing here uses gunicorn's control
# interface (a socket in the home directory).
CMD ["gunicorn", "app:app", "-b", "0.0.0.0:8000", "-w", "4", "--threads", "32", "--timeout", "60", \
     "--graceful-timeout", "40", "--no-control-socket", "--access-logfile", "-"]
