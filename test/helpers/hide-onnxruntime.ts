// Import this first in a test file that checks the engine without onnxruntime-node: from then on,
// require.resolve('onnxruntime-node') fails in this process, as where the package is not installed
// (src/engine/native/ort.ts loads it lazily through require, so nothing has loaded it yet). Node's
// test runner gives every test file its own process, so no other file is affected.
import Module from 'node:module';

type Resolve = (this: unknown, request: string, ...rest: unknown[]) => string;
const loader = Module as unknown as { _resolveFilename: Resolve };
const resolve = loader._resolveFilename;
loader._resolveFilename = function (request, ...rest) {
  if (request === 'onnxruntime-node' || request.startsWith('onnxruntime-node/')) {
    throw Object.assign(new Error(`Cannot find module '${request}' (hidden by test/helpers/hide-onnxruntime)`), { code: 'MODULE_NOT_FOUND' });
  }
  return resolve.call(this, request, ...rest);
};
