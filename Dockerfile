# One image for web (uvicorn) and worker (celery); docker-compose.yml picks the command.
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PYTHONPATH=/app/platform:/app
WORKDIR /app
COPY requirements.txt pyproject.toml ./
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN pip install --no-cache-dir --no-deps -e . \
 && DEBUG=true SECRET_KEY=build-only python manage.py collectstatic --noinput -v0
RUN useradd --create-home stepwise && mkdir -p /app/var && chown -R stepwise /app/var
USER stepwise
EXPOSE 8000
CMD ["uvicorn", "config.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--workers", "2", "--lifespan", "off"]
