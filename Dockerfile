# Herald in a container: the server on 0.0.0.0:8080 with its SQLite file on the /data volume.
FROM python:3.11-slim
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
ENV HERALD_SERVER__HOST=0.0.0.0 \
    HERALD_STORAGE__PATH=/data/herald.db \
    HERALD_SMTP__OUTBOX_DIR=/data/outbox
VOLUME ["/data"]
EXPOSE 8080
CMD ["python", "main.py"]
