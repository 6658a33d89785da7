// The browser demo end to end: build the page for a tiny trained 1-bit MNIST model, open it in
// headless Chromium, draw a digit with the mouse and click a test image, and check that each
// prediction shown equals the library's prediction for the exact input the page classified.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { tf } from '../../src/engine/tf.js';
import { loadModel } from '../../src/run/checkpoint-payload.js';
import { buildDemo } from '../../src/demo/build.js';
import { serveStatic } from '../../src/demo/serve.js';
import { argmax, tempDir, trainTiny, useBackend } from './trained.js';
import { browserSkip as skip, launchChromium } from '../helpers/browser.js';

let run: string;
let outDir: string;
let server: Server;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

before(async () => {
  if (skip) return;
  run = await trainTiny({ dataset: 'mnist', trainLimit: 512, testLimit: 64, model: 'mlp', hidden: [64], quantizer: 'dorefa', bits: 1, batchSize: 64 });
  await useBackend('cpu');
  outDir = join(tempDir('mq-demo-'), 'site');
  await buildDemo({ checkpoint: run, outDir, samples: 6 });
  server = await serveStatic(outDir, 0);
  browser = await launchChromium();
  page = await browser.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  await page.waitForSelector('body[data-ready="true"], body[data-ready="error"]', { timeout: 60_000 });
});

after(async () => {
  if (skip) return;
  await browser?.close();
  await new Promise((resolve) => server?.close(resolve));
});

/** The library's class for raw pixels: QuantizedModel.predict after the data pipeline's normalisation. */
function libraryClass(pixels: number[]): number {
  const { model, payload } = loadModel(run);
  const { mean, std } = payload.normalization!;
  const [h, w, c] = model.config.inputShape;
  const x = Float32Array.from(pixels, (v, i) => (v / 255 - mean[i % c]!) / std[i % c]!);
  const logits = tf.tidy(() => model.predict(tf.tensor4d(x, [1, h, w, c])).dataSync());
  model.dispose();
  return argmax(logits);
}

async function shown(count: number): Promise<{ input: number[]; cls: number; source: string }> {
  await page.waitForSelector(`#prediction[data-count="${count}"]`, { timeout: 20_000 });
  const data = await page.$eval('#prediction', (el) => ({ ...(el as HTMLElement).dataset }));
  return { input: JSON.parse(data.input!), cls: Number(data.class), source: data.source! };
}

test('the page loads the packed model and shows its size', { skip }, async () => {
  assert.deepEqual(pageErrors, []);
  assert.equal(await page.getAttribute('body', 'data-ready'), 'true', (await page.textContent('#error')) ?? '');
  const info = await page.$eval('#model-info', (el) => ({ text: el.textContent!, bytes: (el as HTMLElement).dataset.bytes }));
  assert.equal(Number(info.bytes), statSync(join(outDir, 'model.mqp')).size);
  assert.match(info.text, /^mlp, dorefa 1-bit weights, input 28×28×1: packed [\d.]+ KiB \(float32 [\d.]+ KiB, [\d.]+× smaller\)/);
  assert.equal(await page.locator('#samples figure').count(), 6);
});

test('a digit drawn with the mouse is classified as the library classifies the same 28×28 input', { skip }, async () => {
  const box = (await page.locator('#pad').boundingBox())!;
  const p = (fx: number, fy: number) => [box.x + fx * box.width, box.y + fy * box.height] as const;
  // A "7": the top bar, then the diagonal.
  await page.mouse.move(...p(0.25, 0.22));
  await page.mouse.down();
  await page.mouse.move(...p(0.75, 0.22), { steps: 8 });
  await page.mouse.move(...p(0.45, 0.85), { steps: 12 });
  await page.mouse.up();
  const { input, cls, source } = await shown(1);
  assert.equal(source, 'drawing');
  assert.equal(input.length, 28 * 28);
  assert.ok(input.every((v) => Number.isInteger(v) && v >= 0 && v <= 255));
  assert.ok(input.filter((v) => v > 128).length > 30, 'the stroke reached the model input');
  assert.equal(cls, libraryClass(input));
});

test('a bundled test image is classified as the library classifies it', { skip }, async () => {
  await page.locator('#samples figure[data-index="3"]').click();
  const { input, cls, source } = await shown(2);
  assert.equal(source, 'sample:3');
  const samples = JSON.parse(readFileSync(join(outDir, 'samples.json'), 'utf8'));
  assert.deepEqual(input, samples.pixels[3]);
  assert.equal(cls, libraryClass(input));
  assert.deepEqual(pageErrors, []);
});
