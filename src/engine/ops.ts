import { tf, type Tensor, type Variable } from './tf.js';

/** Identity in the forward pass, zero gradient in the backward pass (tf.stop_gradient). */
export const stopGradient: (x: Tensor) => Tensor = tf.customGrad(((x: Tensor) => ({
  value: tf.add(x, 0),
  gradFunc: (dy: Tensor) => tf.zerosLike(dy),
})) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: Tensor) => Tensor;

/**
 * Loss value and gradients with respect to named variables. Variables the loss does not use
 * are absent from the result.
 */
export function valueAndGrads(f: () => tf.Scalar, vars: Map<string, Variable>): { value: tf.Scalar; grads: Map<string, Tensor> } {
  const byTfName = new Map<string, string>();
  for (const [name, v] of vars) byTfName.set(v.name, name);
  const { value, grads } = tf.variableGrads(f, [...vars.values()]);
  const named = new Map<string, Tensor>();
  for (const [tfName, g] of Object.entries(grads)) named.set(byTfName.get(tfName)!, g);
  return { value, grads: named };
}

/**
 * Runs `fn` and disposes every tensor it made, like `tf.tidy`, for functions that return plain data:
 * `tf.tidy` walks its result looking for tensors, element by element through large typed arrays.
 */
export function disposingScope<T>(fn: () => T): T {
  tf.engine().startScope();
  try {
    return fn();
  } finally {
    tf.engine().endScope();
  }
}
