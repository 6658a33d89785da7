import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gradcheck } from '../../src/analysis/gradcheck.js';

const CONFIG = { dataset: 'synthetic:8x8x1:4:64:32', model: 'mlp', hidden: [16], estimator: 'metaquant', metaHidden: 6, optimizer: 'sgd', lr: 0.5, batchSize: 32, backend: 'wasm' } as const;

// The gradient gradcheck reports is the one the step hands to its meta optimizer; the objective it is
// differenced against is built by the φ probe from the step's state, not by the step's code.
const CASES = [
  { meta: 'fcgrad' },
  { meta: 'lstm' },
  { meta: 'multifc', metaActivation: 'tanh', mqMode: 'paper', phiPath: 'meta' },
] as const;

test("gradcheck: the step's applied ∂L/∂φ agrees with central differences of its φ-path's objective (STE surrogate; Eq. 8); quantized differences vanish for small steps", async () => {
  for (const setup of CASES) {
    const meta = `${setup.meta}${'phiPath' in setup ? ` ${setup.mqMode} ${setup.phiPath}` : ''}`;
    const r = await gradcheck({ config: { ...CONFIG, ...setup }, warmupSteps: 2, coordinates: 4, fdStep: 0.03, quantizedSteps: [1e-4, 1e-6] });
    assert.equal(r.surrogate.objective, 'phiPath' in setup ? 'eq8' : 'surrogate');
    // The surrogate is linear in W_meta (Eq. 8's objective linear in M_φ), so truncation error comes
    // only from the curvature of the cross-entropy and of M_φ: O(h²), measured ≈ 2e-3 relative at h = 0.03·RMS with α = 0.5 (and ≈ 5e-2
    // at 0.1·RMS); roundoff is at least ε·|L|/h per difference, and the float32 forward pass adds
    // tens of ulps, so only tensors whose signal is ≥ 30× that ideal floor are held to a 5% relative
    // error (cosine > 0.99); a wrong chain factor (e.g. a missing cal or α) is off by far more.
    const resolved = r.surrogate.tensors.filter((t) => t.fdNorm / Math.sqrt(t.checked) >= 30 * t.roundoffFloor);
    assert.ok(resolved.length >= Math.ceil(r.surrogate.tensors.length / 2), `${meta}: most tensors resolvable (${resolved.map((t) => t.tensor)})`);
    for (const t of resolved) {
      assert.ok(t.relativeError < 5e-2, `${meta} ${t.tensor}: coordinate rel. error ${t.relativeError}`);
      assert.ok(t.cosine > 0.99, `${meta} ${t.tensor}: cosine ${t.cosine}`);
    }
    for (const t of r.surrogate.tensors) {
      if (Math.abs(t.directional.fd) >= 30 * t.roundoffFloor) assert.ok(t.directional.relativeError < 5e-2, `${meta} ${t.tensor}: directional rel. error ${t.directional.relativeError}`);
    }
    // Q is piecewise constant: tiny steps never cross a threshold, so every difference is exactly 0.
    for (const q of r.quantized.filter((q) => q.step <= 1e-4)) assert.equal(q.zeroFraction, 1, `${meta}: step ${q.step}`);
    const terms = new Map(r.chain.terms.map((t) => [t.symbol, t.norm]));
    assert.equal(terms.get('∂Ŵ/∂W̃ (true)'), 0);
    assert.ok(terms.get('δ = ∂L/∂W_meta (STE)')! > 0 && terms.get('∂W_meta/∂m = −α·cal')! > 0);
    assert.deepEqual(Object.keys(r.chain.autodiffNorms).sort(), r.surrogate.tensors.map((t) => t.tensor).sort());
  }
});

test('gradcheck refuses a non-MetaQuant estimator and a warm-up of zero steps', async () => {
  await assert.rejects(gradcheck({ config: { ...CONFIG, estimator: 'ste' } }), /gradcheck probes MetaQuant/);
  await assert.rejects(gradcheck({ config: CONFIG, warmupSteps: 0 }), /warmup-steps/);
});
