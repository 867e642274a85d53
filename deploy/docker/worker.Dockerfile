# syntax=docker/dockerfile:1.7
# CUDA model worker image: `ziya-visual-bot worker`, one process per GPU, onnxruntime-node with the CUDA provider.
# Build from the repository root: docker build -f deploy/docker/worker.Dockerfile -t ziya-visual-bot-worker .
# The model directory (built by `ziya-visual-bot build-model`, see deploy/README.md) is mounted read-only at
# /models/ziya; to bake it in instead, build FROM this image and COPY it there.

FROM node:24.22.3-bookworm-slim AS dependencies
WORKDIR /app
# onnxruntime-node's install script fetches the CUDA 12 execution provider (not in the npm package). npm 11 holds
# install scripts until they are approved, and npm 10 would run every package's: so all are skipped during `npm ci`
# and onnxruntime-node's alone is allowed, run explicitly (the same as `npm install-scripts approve onnxruntime-node`
# followed by a rebuild, on any npm). The build fails when the CUDA provider did not arrive.
ENV ONNXRUNTIME_NODE_INSTALL=cuda12
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && node node_modules/onnxruntime-node/script/install.js \
 && test -e node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so \
 && npm cache clean --force

FROM node:24.22.3-bookworm-slim AS node

# CUDA 12 + cuDNN 9 runtime libraries (what onnxruntime's CUDA provider links against).
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04
# EXECUTION_PROVIDER=webgpu (the KV cache stays on the GPU) runs through Vulkan: the loader (libvulkan1) is here, and
# `graphics` makes the NVIDIA Container Toolkit mount the driver's Vulkan ICD (nvidia_icd.json + libGLX_nvidia).
# No Mesa: a worker that finds no GPU adapter exits with one line rather than falling back to llvmpipe on the CPU.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libvulkan1 \
 && rm -rf /var/lib/apt/lists/*
# MALLOC_*: onnxruntime-node copies each run's inputs (the KV cache too) into fresh buffers; these keep them in reused
# heap memory instead of an mmap() per step (workers/runtime/host-allocator.ts).
ENV NODE_ENV=production \
    EXECUTION_PROVIDER=cuda \
    MODEL_DIR=/models/ziya \
    METRICS_PORT=9464 \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics \
    XDG_RUNTIME_DIR=/tmp \
    MALLOC_MMAP_THRESHOLD_=33554432 \
    MALLOC_TRIM_THRESHOLD_=1073741824 \
    MALLOC_MMAP_MAX_=0
COPY --from=node /usr/local/bin/node /usr/local/bin/node
WORKDIR /app
COPY --from=dependencies --chown=root:root /app/node_modules ./node_modules
COPY --chown=root:root package.json ./
COPY --chown=root:root bin ./bin
COPY --chown=root:root src ./src
COPY --chown=root:root workers ./workers
COPY --chown=root:root adapters ./adapters
# Ubuntu 24.04's unprivileged `ubuntu` user (uid 1000).
USER 1000:1000
EXPOSE 9464
ENTRYPOINT ["node", "bin/ziya-visual-bot.js"]
CMD ["worker"]
