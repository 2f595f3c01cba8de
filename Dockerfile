# One image for web (daphne) and worker (celery); docker-compose.yml picks the command.
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
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "config.asgi:application"]
