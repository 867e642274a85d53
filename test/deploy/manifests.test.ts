import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { loadConfig } from '../../src/config/config.ts';
import { processRegistry, queueStates } from '../../src/observability/metrics.ts';

const root = resolve(import.meta.dirname, '../..');
const k8sDirectory = join(root, 'deploy/k8s');

// biome-ignore lint/suspicious/noExplicitAny: manifests are checked field by field below
type Manifest = Record<string, any>;

/** Validators generated from the Kubernetes OpenAPI schema (kubernetes-models) and KEDA's CRD (@kubernetes-models/keda). */
const models: Record<string, new (data: never) => { validate(): void }> = {
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'v1/ConfigMap': ConfigMap,
  'v1/Namespace': Namespace,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'keda.sh/v1alpha1/ScaledObject': ScaledObject,
};

function loadManifests(): Array<{ file: string; manifest: Manifest }> {
  const found: Array<{ file: string; manifest: Manifest }> = [];
  for (const file of readdirSync(k8sDirectory)
    .filter((name) => name.endsWith('.yaml'))
    .sort()) {
    if (file === 'kustomization.yaml') continue;
    for (const document of parseAllDocuments(readFileSync(join(k8sDirectory, file), 'utf8'))) {
      expect(document.errors, file).toEqual([]);
      const manifest = document.toJS() as Manifest | null;
      if (manifest !== null) found.push({ file, manifest });
    }
  }
  return found;
}

const manifests = loadManifests();
const byKind = (kind: string, name?: string): Manifest[] =>
  manifests
    .map((entry) => entry.manifest)
    .filter((manifest) => manifest['kind'] === kind && (name === undefined || manifest['metadata']?.['name'] === name));
const one = (kind: string, name: string): Manifest => {
  const found = byKind(kind, name);
  expect(found, `${kind}/${name}`).toHaveLength(1);
  return found[0] as Manifest;
};
/** Variables that hold credentials (they must come from the Secret). */
const secretName = /(_TOKEN|_SECRET|_APP_ID|_ENCRYPT_KEY)$/;
const configMap = () => one('ConfigMap', 'ziya-visual-bot')['data'] as Record<string, string>;
const containerEnvironment = (deployment: Manifest): Record<string, string> =>
  Object.fromEntries(
    (deployment['spec']['template']['spec']['containers'][0]['env'] ?? [])
      .filter((variable: Manifest) => variable['value'] !== undefined)
      .map((variable: Manifest) => [variable['name'], String(variable['value'])]),
  );

describe('Kubernetes manifests (deploy/k8s)', () => {
  it('parse, and every object validates against the Kubernetes / KEDA schema of its kind', () => {
    expect(manifests.length).toBeGreaterThanOrEqual(12);
    for (const { file, manifest } of manifests) {
      const model = models[`${manifest['apiVersion']}/${manifest['kind']}`];
      expect(model, `${file}: ${manifest['apiVersion']} ${manifest['kind']} has no validator`).toBeDefined();
      expect(() => new (model as NonNullable<typeof model>)(manifest as never).validate(), file).not.toThrow();
      expect(manifest['metadata']['namespace'] ?? 'ziya-visual-bot', file).toBe('ziya-visual-bot');
    }
  });

  it('the validator does reject a broken object (it is not a no-op)', () => {
    const broken = structuredClone(one('Deployment', 'worker'));
    broken['spec']['replicas'] = 'two';
    expect(() => new Deployment(broken as never).validate()).toThrow(/replicas/);
    const brokenScaler = structuredClone(one('ScaledObject', 'worker'));
    brokenScaler['spec']['triggers'][0]['metadata']['threshold'] = 1;
    expect(() => new ScaledObject(brokenScaler as never).validate()).toThrow(/threshold/);
  });

  it('kustomization lists every manifest except the examples, and only existing files', () => {
    const kustomization = parseYaml(readFileSync(join(k8sDirectory, 'kustomization.yaml'), 'utf8')) as Manifest;
    const listed = [...(kustomization['resources'] as string[])].sort();
    const files = readdirSync(k8sDirectory)
      .filter((name) => name.endsWith('.yaml') && name !== 'kustomization.yaml' && !name.includes('.example.'))
      .sort();
    expect(listed).toEqual(files);
  });

  it('runs model workers on GPUs with a read-only model, probes and a grace period longer than a generation', () => {
    const worker = one('Deployment', 'worker');
    const pod = worker['spec']['template']['spec'];
    const container = pod['containers'][0];
    expect(worker['spec']['replicas'], 'KEDA owns the replica count').toBeUndefined();
    expect(container['resources']['limits']['nvidia.com/gpu']).toBe('1');
    expect(container['args']).toEqual(['worker']);
    const modelMount = container['volumeMounts'].find((mount: Manifest) => mount['mountPath'] === '/models/ziya');
    expect(modelMount['readOnly']).toBe(true);
    const modelVolume = pod['volumes'].find((volume: Manifest) => volume['name'] === modelMount['name']);
    expect(modelVolume['persistentVolumeClaim']['readOnly']).toBe(true);
    expect(container['startupProbe']['httpGet']['path']).toBe('/healthz');
    expect(container['readinessProbe']['httpGet']['path']).toBe('/readyz');
    expect(container['livenessProbe']['httpGet']['path']).toBe('/healthz');

    // The worker's whole configuration (ConfigMap + its own env) passes the bot's own validation.
    const config = loadConfig({ ...configMap(), ...containerEnvironment(worker) }, { readDotenv: false });
    expect(config.EXECUTION_PROVIDER).toBe('cuda');
    expect(config.WORKER_BATCH_SIZE).toBeGreaterThan(1);
    // KEDA's target per replica is one channel per decode slot.
    const [trigger] = one('ScaledObject', 'worker')['spec']['triggers'] as Manifest[];
    expect(Number(trigger?.['metadata']['threshold'])).toBe(config.WORKER_BATCH_SIZE);
    // Finish any generation before handing it back, and exit (grace + 15 s) before the kubelet's SIGKILL.
    expect(config.SHUTDOWN_GRACE_MS).toBeGreaterThan(config.GENERATION_TIMEOUT_MS);
    expect(pod['terminationGracePeriodSeconds'] * 1000).toBeGreaterThan(config.SHUTDOWN_GRACE_MS + 15_000);
    expect(config.JOB_LOCK_MS).toBeGreaterThanOrEqual(30_000);
    expect(pod['tolerations']).toContainEqual(expect.objectContaining({ key: 'nvidia.com/gpu' }));
    // EXECUTION_PROVIDER=webgpu runs through Vulkan: `graphics` makes the NVIDIA toolkit mount its Vulkan ICD.
    expect(containerEnvironment(worker)['NVIDIA_DRIVER_CAPABILITIES']?.split(',').sort()).toEqual([
      'compute',
      'graphics',
      'utility',
    ]);
  });

  it('scales workers with KEDA on requests waiting + prioritized + active (a Prometheus trigger), scaling down slowly', () => {
    const scaler = one('ScaledObject', 'worker');
    expect(scaler['spec']['scaleTargetRef']).toMatchObject({ kind: 'Deployment', name: 'worker' });
    const [trigger] = scaler['spec']['triggers'] as Manifest[];
    expect(trigger?.['type']).toBe('prometheus');
    const query = String(trigger?.['metadata']['query']);
    expect(query).toContain('zvb_queue_jobs');
    expect(query).toContain('queue="requests"');
    const states = /state=~"([^"]+)"/.exec(query)?.[1]?.split('|');
    expect(states?.sort()).toEqual(['active', 'prioritized', 'waiting']);
    for (const state of states ?? []) expect(queueStates).toContain(state);
    const generationSeconds = loadConfig(configMap(), { readDotenv: false }).GENERATION_TIMEOUT_MS / 1000;
    const scaleDown = scaler['spec']['advanced']['horizontalPodAutoscalerConfig']['behavior']['scaleDown'];
    expect(scaleDown['stabilizationWindowSeconds']).toBeGreaterThanOrEqual(generationSeconds);
    for (const policy of scaleDown['policies']) {
      expect(policy).toMatchObject({ type: 'Pods', value: 1 });
      expect(policy['periodSeconds']).toBeGreaterThanOrEqual(generationSeconds);
    }
    expect(scaler['spec']['minReplicaCount']).toBeGreaterThanOrEqual(1);
  });

  it('gives every Deployment probes, a PodDisruptionBudget that selects it, and its tokens from the Secret', () => {
    const deployments = byKind('Deployment');
    expect(deployments.map((deployment) => deployment['metadata']['name']).sort()).toEqual([
      'adapter-discord',
      'adapter-lark',
      'adapter-web',
      'worker',
    ]);
    for (const deployment of deployments) {
      const name = deployment['metadata']['name'];
      const labels = deployment['spec']['template']['metadata']['labels'];
      expect(deployment['spec']['selector']['matchLabels'], name).toEqual(
        expect.objectContaining({ 'app.kubernetes.io/name': labels['app.kubernetes.io/name'] }),
      );
      const budgets = byKind('PodDisruptionBudget').filter((budget) =>
        Object.entries(budget['spec']['selector']['matchLabels']).every(([key, value]) => labels[key] === value),
      );
      expect(budgets, `${name} PodDisruptionBudget`).toHaveLength(1);
      const container = deployment['spec']['template']['spec']['containers'][0];
      expect(container['readinessProbe']['httpGet']['path'], name).toBe('/readyz');
      expect(container['livenessProbe']['httpGet']['path'], name).toBe('/healthz');
      expect(deployment['spec']['template']['spec']['securityContext']['runAsNonRoot'], name).toBe(true);
      for (const variable of container['env'] ?? []) {
        if (secretName.test(variable['name'])) {
          expect(variable['value'], `${name} ${variable['name']} must come from the Secret`).toBeUndefined();
          expect(variable['valueFrom']['secretKeyRef']['name'], name).toBe('ziya-visual-bot');
        }
      }
      loadConfig({ ...configMap(), ...containerEnvironment(deployment) }, { readDotenv: false });
    }
    for (const key of Object.keys(configMap())) expect(key).not.toMatch(secretName);
    const secretKeys = Object.keys(one('Secret', 'ziya-visual-bot')['stringData']);
    for (const deployment of deployments) {
      for (const variable of deployment['spec']['template']['spec']['containers'][0]['env'] ?? []) {
        const reference = variable['valueFrom']?.['secretKeyRef'];
        if (reference !== undefined && reference['optional'] !== true) expect(secretKeys).toContain(reference['key']);
      }
    }
  });

  it('uses a hash-tagged queue prefix (Redis Cluster) and Redis with AOF persistence', () => {
    expect(configMap()['QUEUE_PREFIX']).toMatch(/^\{[^{}]+\}$/);
    const redis = one('StatefulSet', 'redis');
    const args: string[] = redis['spec']['template']['spec']['containers'][0]['args'];
    expect(args.slice(args.indexOf('--appendonly'), args.indexOf('--appendonly') + 2)).toEqual(['--appendonly', 'yes']);
    for (const service of byKind('Service')) {
      const selector = service['spec']['selector'];
      const targets = [...byKind('Deployment'), ...byKind('StatefulSet')].filter((workload) =>
        Object.entries(selector).every(
          ([key, value]) => workload['spec']['template']['metadata']['labels'][key] === value,
        ),
      );
      expect(targets, service['metadata']['name']).toHaveLength(1);
    }
  });
});

describe('compose file (deploy/compose.yaml)', () => {
  const compose = parseYaml(readFileSync(join(root, 'deploy/compose.yaml'), 'utf8'), { merge: true }) as Manifest;
  const services = compose['services'] as Record<string, Manifest>;

  it('has Redis with AOF, adapters and one GPU worker with a read-only model', () => {
    expect(Object.keys(services).sort()).toEqual(['adapter-discord', 'adapter-lark', 'adapter-web', 'redis', 'worker']);
    const redisCommand: string[] = services['redis']?.['command'];
    expect(redisCommand.slice(redisCommand.indexOf('--appendonly'), redisCommand.indexOf('--appendonly') + 2)).toEqual([
      '--appendonly',
      'yes',
    ]);
    expect(services['redis']?.['volumes']).toEqual(['redis-data:/data']);
    const worker = services['worker'] as Manifest;
    // `graphics` (the NVIDIA Vulkan ICD, for EXECUTION_PROVIDER=webgpu) both as a device capability and in the env.
    expect(worker['deploy']['resources']['reservations']['devices']).toEqual([
      { driver: 'nvidia', count: 1, capabilities: ['gpu', 'compute', 'utility', 'graphics'] },
    ]);
    expect(worker['environment']['NVIDIA_DRIVER_CAPABILITIES']).toBe('compute,utility,graphics');
    expect(worker['volumes']).toContainEqual(
      expect.objectContaining({ type: 'bind', target: '/models/ziya', read_only: true }),
    );
    const config = loadConfig(worker['environment'], { readDotenv: false });
    expect(config.QUEUE_PREFIX).toMatch(/^\{[^{}]+\}$/);
    expect(Number.parseInt(worker['stop_grace_period'], 10) * 1000).toBeGreaterThan(config.SHUTDOWN_GRACE_MS + 15_000);
    for (const [name, service] of Object.entries(services)) {
      if (name === 'redis') continue;
      expect(service['depends_on']['redis']['condition'], name).toBe('service_healthy');
      expect(service['environment']['REDIS_URL'], name).toBe('redis://redis:6379');
      loadConfig(service['environment'], { readDotenv: false });
      const build = service['build'];
      if (build !== undefined)
        expect(existsSync(resolve(root, 'deploy', build['context'], build['dockerfile']))).toBe(true);
    }
  });
});

describe('Dockerfiles (deploy/docker) and .dockerignore', () => {
  const dockerfiles = ['adapter', 'worker'].map((role) => ({
    role,
    text: readFileSync(join(root, `deploy/docker/${role}.Dockerfile`), 'utf8'),
  }));

  it('pass the dockerfile-utils linter and a few hadolint rules (pinned bases, non-root, exec form, no cd)', async () => {
    const { validate } = await import('dockerfile-utils');
    for (const { role, text } of dockerfiles) {
      expect(
        validate(text).map((problem) => `${problem.range.start.line + 1}: ${problem.message}`),
        role,
      ).toEqual([]);
      const instructions = text
        .replace(/\\\n/g, ' ')
        .split('\n')
        .filter((line) => line.trim() !== '' && !line.trim().startsWith('#'));
      const from = instructions.filter((line) => line.startsWith('FROM '));
      for (const line of from) {
        const image = line.split(/\s+/)[1] ?? '';
        // DL3006/DL3007: every base image has an exact version tag.
        expect(image, role).toMatch(/^[\w./-]+:\d+\.\d+\.\d+[\w.-]*$/);
      }
      const users = instructions.filter((line) => line.startsWith('USER '));
      expect(users.at(-1), `${role}: DL3002 the last USER is not root`).toMatch(/^USER [1-9]\d*:[1-9]\d*$/);
      for (const line of instructions.filter((entry) => /^(CMD|ENTRYPOINT) /.test(entry))) {
        expect(line.replace(/^\w+ /, ''), `${role}: DL3025 exec form`).toMatch(/^\[.*\]$/);
      }
      for (const line of instructions.filter((entry) => entry.startsWith('RUN '))) {
        expect(line, `${role}: DL3003 use WORKDIR, not cd`).not.toMatch(/(^|[;&|(]\s*)cd\s/);
        expect(line, `${role}: npm ci, never npm install`).not.toMatch(/npm install\b/);
      }
      for (const line of instructions.filter((entry) => entry.startsWith('COPY ') && !entry.includes('--from='))) {
        for (const source of line
          .split(/\s+/)
          .slice(1, -1)
          .filter((part) => !part.startsWith('--'))) {
          expect(existsSync(join(root, source)), `${role}: COPY ${source}`).toBe(true);
        }
      }
    }
  });

  it('installs onnxruntime-node with its CUDA 12 provider on a CUDA 12 + cuDNN runtime in the worker, and skips it in the adapter', () => {
    const worker = dockerfiles.find((file) => file.role === 'worker')?.text ?? '';
    const adapter = dockerfiles.find((file) => file.role === 'adapter')?.text ?? '';
    expect(worker).toMatch(/^FROM nvidia\/cuda:12\.\d+\.\d+-cudnn-runtime-ubuntu\d+\.\d+$/m);
    expect(worker).toContain('ENV ONNXRUNTIME_NODE_INSTALL=cuda12');
    // npm 11 holds install scripts: the image runs onnxruntime-node's script explicitly and checks its result.
    expect(worker).toContain('npm ci --omit=dev --ignore-scripts');
    expect(worker).toContain('node node_modules/onnxruntime-node/script/install.js');
    expect(worker).toContain('libonnxruntime_providers_cuda.so');
    expect(existsSync(join(root, 'node_modules/onnxruntime-node/script/install.js'))).toBe(true);
    expect(adapter).toContain('ENV ONNXRUNTIME_NODE_INSTALL=skip');
    expect(adapter).not.toContain('nvidia/cuda');
  });

  it('gives the worker the Vulkan loader and the NVIDIA graphics capability (EXECUTION_PROVIDER=webgpu)', () => {
    const worker = dockerfiles.find((file) => file.role === 'worker')?.text ?? '';
    const lastStage = worker.slice(worker.lastIndexOf('\nFROM '));
    expect(lastStage).toMatch(/apt-get install -y --no-install-recommends [^\n]*\blibvulkan1\b/);
    expect(lastStage).toMatch(/^\s+NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics\b/m);
    // Installed as root, before the image drops to its unprivileged user.
    expect(lastStage.indexOf('libvulkan1')).toBeLessThan(lastStage.indexOf('\nUSER '));
  });

  it('.dockerignore keeps dependencies, models, caches and secrets out of the build context', () => {
    const ignored = readFileSync(join(root, '.dockerignore'), 'utf8')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'));
    for (const entry of ['**/node_modules', '.cache', 'models', '.env', '.git', '**/*.onnx', '**/*.onnx.data']) {
      expect(ignored).toContain(entry);
    }
    for (const needed of ['bin', 'src', 'adapters', 'workers', 'package.json', 'package-lock.json']) {
      expect(ignored).not.toContain(needed);
    }
  });
});

describe('Grafana dashboard (deploy/grafana)', () => {
  it('charts only series the processes export, and every zvb_ series', async () => {
    const dashboard = JSON.parse(readFileSync(join(root, 'deploy/grafana/ziya-visual-bot.json'), 'utf8')) as Manifest;
    const expressions: string[] = dashboard['panels'].flatMap((panel: Manifest) =>
      panel['targets'].map((target: Manifest) => target['expr']),
    );
    const exported = new Set([
      'zvb_queue_jobs',
      ...(await processRegistry.getMetricsAsJSON()).map((metric) => metric.name),
    ]);
    const used = new Set(
      expressions.flatMap((expression) =>
        [...expression.matchAll(/\b((?:zvb|nodejs|process)_\w+)/g)].map((match) =>
          (match[1] ?? '').replace(/_(bucket|sum|count)$/, ''),
        ),
      ),
    );
    for (const name of used) expect(exported, name).toContain(name);
    for (const name of exported) if (name.startsWith('zvb_')) expect(used, name).toContain(name);
  });
});
