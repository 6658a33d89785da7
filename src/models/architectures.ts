// The architectures, each written once as a forward pass over `ArchitectureOps`: training and
// evaluation run it on tensors (LayerOps), the tracer on shapes (trace.ts), and summary and the
// tfjs/ONNX exports are generated from that trace. Browser-safe (the demo traces in the page).
import type { ArchitectureOps, Value } from './ops.js';
import { UsageError } from '../util/errors.js';

/** Options an architecture reads; every field has a default. */
export interface ArchitectureOptions {
  /** mlp: hidden layer widths (default [256, 256]). */
  hidden?: number[];
  /** mlp: batch norm after each hidden layer (default true; dense layers before BN have no bias). */
  batchNorm?: boolean;
  /** mlp, lenet5: the hidden layers' activation (default relu; identity for a BNN, whose sign activations need negative inputs). */
  activation?: HiddenActivation;
}

export const HIDDEN_ACTIVATIONS = ['relu', 'identity'] as const;
export type HiddenActivation = (typeof HIDDEN_ACTIVATIONS)[number];

/** The hidden activation an architecture's options choose. */
function hiddenActivation<T extends Value>(ops: ArchitectureOps<T>, x: T, opts: ArchitectureOptions): T {
  return (opts.activation ?? 'relu') === 'identity' ? x : ops.relu(x);
}

export interface Architecture {
  name: string;
  describe: string;
  /** Logits [N, numClasses] from NHWC images, using only `ops` (what it bypasses, the exports cannot see). */
  forward<T extends Value>(ops: ArchitectureOps<T>, x: T, numClasses: number, opts: ArchitectureOptions): T;
}

/**
 * Multi-layer perceptron on flattened images. With batch norm (default) every hidden layer is
 * dense (no bias) → BN → ReLU, as the method expects (BN absorbs the scale 1-bit weights lack);
 * without it, hidden layers are dense (no bias) → ReLU, which is the reference fixtures' tiny net.
 */
export const mlp: Architecture = {
  name: 'mlp',
  describe: 'flatten → [dense → BN → ReLU] × hidden → dense (bias) ; default hidden 256,256',
  forward(ops, x, numClasses, opts) {
    let h = ops.flatten(x);
    const useBn = opts.batchNorm ?? true;
    (opts.hidden ?? [256, 256]).forEach((units, i) => {
      h = ops.dense(`fc${i + 1}`, h, units, { bias: false });
      if (useBn) h = ops.batchNorm(`bn${i + 1}`, h);
      h = hiddenActivation(ops, h, opts);
    });
    return ops.dense(`fc${(opts.hidden ?? [256, 256]).length + 1}`, h, numClasses, { bias: true });
  },
};

/**
 * LeNet-5-like CNN (the performance issue's model): conv5×5·32 → BN → ReLU → maxpool2 →
 * conv5×5·64 → BN → ReLU → maxpool2 → dense 512 → BN → ReLU → dense (bias).
 */
export const lenet5: Architecture = {
  name: 'lenet5',
  describe: 'conv5x5(32)-pool-conv5x5(64)-pool-fc512-fc, batch norm after each hidden layer',
  forward(ops, x, numClasses, opts) {
    let h = ops.conv2d('conv1', x, 32, 5);
    h = ops.maxPool(hiddenActivation(ops, ops.batchNorm('bn1', h), opts), 2, 2, 'same');
    h = ops.conv2d('conv2', h, 64, 5);
    h = ops.maxPool(hiddenActivation(ops, ops.batchNorm('bn2', h), opts), 2, 2, 'same');
    h = ops.flatten(h);
    h = hiddenActivation(ops, ops.batchNorm('bn3', ops.dense('fc1', h, 512, { bias: false })), opts);
    return ops.dense('fc2', h, numClasses, { bias: true });
  },
};

/** CIFAR-style ResNet (He et al. 2016, §4.2): 6n+2 layers, 16/32/64 channels, 1×1-conv projection shortcuts. */
function resnet(depth: number): Architecture {
  const blocksPerStage = (depth - 2) / 6;
  return {
    name: `resnet${depth}`,
    describe: `CIFAR ResNet-${depth}: conv3x3(16) + 3 stages × ${blocksPerStage} basic blocks (16/32/64) + avgpool + fc`,
    forward(ops, x, numClasses) {
      let h = ops.relu(ops.batchNorm('stem/bn', ops.conv2d('stem/conv', x, 16, 3)));
      [16, 32, 64].forEach((channels, stage) => {
        for (let b = 0; b < blocksPerStage; b++) {
          const p = `s${stage + 1}b${b + 1}`;
          const stride = stage > 0 && b === 0 ? 2 : 1;
          let y = ops.relu(ops.batchNorm(`${p}/bn1`, ops.conv2d(`${p}/conv1`, h, channels, 3, { stride })));
          y = ops.batchNorm(`${p}/bn2`, ops.conv2d(`${p}/conv2`, y, channels, 3));
          const shortcut =
            stride !== 1 || h.shape[3] !== channels
              ? ops.batchNorm(`${p}/down/bn`, ops.conv2d(`${p}/down/conv`, h, channels, 1, { stride }))
              : h;
          h = ops.relu(ops.add(y, shortcut));
        }
      });
      h = ops.globalAvgPool(h);
      return ops.dense('fc', h, numClasses, { bias: true });
    },
  };
}

/** The registry: built-ins, then what `registerArchitecture` added. */
export const ARCHITECTURES: Readonly<Record<string, Architecture>> = Object.fromEntries(
  [mlp, lenet5, resnet(20), resnet(32), resnet(44), resnet(56)].map((a) => [a.name, a]),
);

/**
 * Names of every registered architecture, built-ins first. Kept in step with the registry, so
 * lists taken from it (CLI choices, checkpoint validation) include architectures registered later.
 */
export const MODEL_NAMES: string[] = Object.keys(ARCHITECTURES);

/**
 * Adds an architecture under `arch.name`: it can then be built, trained, summarised and exported
 * (tfjs, ONNX, packed) with no other code. Replacing a name (a built-in included) needs `{ replace: true }`.
 */
export function registerArchitecture(arch: Architecture, options: { replace?: boolean } = {}): void {
  if (!arch.name) throw new UsageError('an architecture name must be a non-empty string');
  if (hasArchitecture(arch.name) && !options.replace) {
    throw new UsageError(`architecture '${arch.name}' is already registered; pass { replace: true } to replace it`);
  }
  if (!hasArchitecture(arch.name)) MODEL_NAMES.push(arch.name);
  (ARCHITECTURES as Record<string, Architecture>)[arch.name] = arch;
}

export function hasArchitecture(name: string): boolean {
  return Object.hasOwn(ARCHITECTURES, name);
}

export function getArchitecture(name: string): Architecture {
  const arch = hasArchitecture(name) ? ARCHITECTURES[name] : undefined;
  if (!arch) throw new UsageError(`unknown model '${name}'; expected one of: ${MODEL_NAMES.join(', ')}`);
  return arch;
}
