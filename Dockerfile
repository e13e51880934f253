# gridbot for a district (docker-compose.yml): one image, as many processes as needed.
# The console's browser libraries come from npm in a first stage; Node is not needed
# at run time.
FROM node:20-slim AS assets
WORKDIR /src/plugins/console/static
COPY plugins/console/static/package.json plugins/console/static/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error

FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot bot
COPY plugins plugins
COPY storage storage
COPY messages messages
COPY ground ground
COPY --from=assets /src/plugins/console/static/node_modules plugins/console/static/node_modules
RUN pip install --no-cache-dir . && useradd --system --home /app gridbot \
    && mkdir -p /app/data && chown gridbot /app/data
USER gridbot
ENV HOST=0.0.0.0 PORT=8080 GRIDBOT_CONSOLE=false GRIDBOT_DEMO=false
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"
CMD ["gridbot", "run", "--no-console"]
