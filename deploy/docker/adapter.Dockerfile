# syntax=docker/dockerfile:1.7
# Slim adapter image: `ziya-visual-bot adapter web|discord|lark` on CPU. No model, no CUDA.
# Build from the repository root: docker build -f deploy/docker/adapter.Dockerfile -t ziya-visual-bot-adapter .

FROM node:24.22.3-bookworm-slim AS dependencies
WORKDIR /app
# Adapters never run onnxruntime: skip its CUDA provider download. Every install script stays off (npm 11 holds
# them until approved anyway); sharp's prebuilt libvips comes as an optional dependency and needs none.
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM node:24.22.3-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=dependencies --chown=root:root /app/node_modules ./node_modules
COPY --chown=root:root package.json ./
COPY --chown=root:root bin ./bin
COPY --chown=root:root src ./src
COPY --chown=root:root adapters ./adapters
# The adapter imports nothing from workers/ at run time, but `bin/cli.ts` registers every command.
COPY --chown=root:root workers ./workers
# The image's own `node` user (uid 1000); the code is owned by root and read-only to it.
USER 1000:1000
ENV WEB_HOST=0.0.0.0 WEB_PORT=8080 METRICS_PORT=9464
EXPOSE 8080 9464
ENTRYPOINT ["node", "bin/ziya-visual-bot.js"]
CMD ["adapter", "web"]
