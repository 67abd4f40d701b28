# One image for every process of the Procfile; docker-compose picks the command.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DJANGO_SETTINGS_MODULE=config.settings.production
WORKDIR /app
COPY requirements/ requirements/
RUN pip install --no-cache-dir -r requirements/production.txt
COPY . .
RUN DJANGO_SECRET_KEY=build DJANGO_ALLOWED_HOSTS=build DATABASE_URL=sqlite:////tmp/build.db \
    WHATSAPP_APP_SECRET=build WHATSAPP_VERIFY_TOKEN=build WHATSAPP_ACCESS_TOKEN=build WHATSAPP_PHONE_NUMBER_ID=build \
    python manage.py collectstatic --noinput
RUN useradd --create-home pyloto && mkdir -p var && chown pyloto var
USER pyloto
