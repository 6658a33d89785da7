// The one place that imports TensorFlow.js. `@tensorflow/tfjs` (not tfjs-core alone) is used
// because it registers every gradient; the wasm backend registers itself on import.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';

export { tf };
export type Tensor = tf.Tensor;
export type Variable = tf.Variable;
export type Rank = tf.Rank;
