# The Fundtrail image: the CLI, API, relay and workers. ECharts comes from the npm registry.
FROM node:20-slim AS echarts
WORKDIR /build
RUN npm pack --silent echarts@6.1.0 && tar xzf echarts-6.1.0.tgz package/dist/echarts.min.js

FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY domain ./domain
COPY projections ./projections
COPY services ./services
COPY infra ./infra
COPY --from=echarts /build/package/dist/echarts.min.js ./infra/web/static/vendor/echarts.min.js
RUN pip install --no-cache-dir -c constraints.txt . && useradd --system fundtrail
USER fundtrail
ENTRYPOINT ["fundtrail"]
