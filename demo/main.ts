// The demo page: loads a packed low-bit model with metaquant's browser-safe loader and classifies
// drawings and test images. Inputs are raw pixels 0–255; the model normalises them itself.
// For tests, #prediction carries what was classified: data-input (the exact H·W·C pixel values,
// JSON), data-class, data-source and data-count (incremented per prediction).
import * as tf from '@tensorflow/tfjs';
import { buildLayersModel } from '../src/export/layers-model.js';
import { decodePacked, float32Bytes } from '../src/export/packed-format.js';

interface Samples {
  labels: number[];
  /** One array of H·W·C raw pixel values per image. */
  pixels: number[][];
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const kib = (n: number) => (n < 2 ** 20 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 2 ** 20).toFixed(2)} MiB`);

async function fetchBytes(url: string): Promise<Uint8Array> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

async function main(): Promise<void> {
  // The pure-JS backend: runs everywhere (headless, no GPU) and is fast enough for one image.
  await tf.setBackend('cpu');
  const bytes = await fetchBytes('./model.mqp');
  const { header, network } = decodePacked(bytes, 'model.mqp');
  const model = buildLayersModel(network);
  const [height, width, channels] = header.modelConfig.inputShape;
  const q = header.modelConfig.quantizer;
  const quantizer = q ? `${q.name}${q.name === 'dorefa' ? ` ${q.bits}-bit` : ''}` : 'float';
  const float32 = float32Bytes(header);
  $('model-info').textContent =
    `${header.modelConfig.arch}, ${quantizer} weights, input ${height}×${width}×${channels}: ` +
    `packed ${kib(bytes.length)} (float32 ${kib(float32)}, ${(float32 / bytes.length).toFixed(1)}× smaller) · tfjs ${tf.getBackend()} backend`;
  $('model-info').dataset.bytes = String(bytes.length);
  $('model-info').dataset.float32Bytes = String(float32);

  const view = $<HTMLCanvasElement>('input-view');
  const prediction = $('prediction');

  function showInput(pixels: ArrayLike<number>): void {
    const small = document.createElement('canvas');
    small.width = width;
    small.height = height;
    const ctx = small.getContext('2d')!;
    ctx.putImageData(toImageData(pixels, width, height, channels), 0, 0);
    const v = view.getContext('2d')!;
    v.imageSmoothingEnabled = false;
    v.clearRect(0, 0, view.width, view.height);
    v.drawImage(small, 0, 0, view.width, view.height);
  }

  function classify(pixels: number[], source: string): void {
    const probabilities = tf.tidy(() => tf.softmax(model.predict(tf.tensor4d(pixels, [1, height, width, channels])) as tf.Tensor2D).dataSync());
    let best = 0;
    probabilities.forEach((p, i) => (best = p > probabilities[best]! ? i : best));
    prediction.textContent = `${best} (${(100 * probabilities[best]!).toFixed(1)}%)`;
    prediction.dataset.input = JSON.stringify(pixels);
    prediction.dataset.class = String(best);
    prediction.dataset.source = source;
    prediction.dataset.count = String(Number(prediction.dataset.count ?? 0) + 1);
    $('scores').replaceChildren(
      ...Array.from(probabilities, (p) => {
        const li = document.createElement('li');
        li.textContent = `${(100 * p).toFixed(1)}%`;
        return li;
      }),
    );
    showInput(pixels);
  }

  setUpPad($<HTMLCanvasElement>('pad'), width, height, channels, (pixels) => classify(pixels, 'drawing'));
  $('clear').addEventListener('click', () => clearPad($<HTMLCanvasElement>('pad')));

  const samples = await fetch('./samples.json').then((r) => (r.ok ? (r.json() as Promise<Samples>) : null));
  samples?.pixels.forEach((pixels, i) => {
    const figure = document.createElement('figure');
    const c = document.createElement('canvas');
    c.width = width;
    c.height = height;
    c.getContext('2d')!.putImageData(toImageData(pixels, width, height, channels), 0, 0);
    const caption = document.createElement('figcaption');
    caption.textContent = `label ${samples.labels[i]}`;
    figure.append(c, caption);
    figure.dataset.index = String(i);
    figure.addEventListener('click', () => classify(pixels, `sample:${i}`));
    $('samples').append(figure);
  });
  document.body.dataset.ready = 'true';
}

/** Grey (1 channel) or RGB (3 channels) raw pixels as canvas image data. */
function toImageData(pixels: ArrayLike<number>, width: number, height: number, channels: number): ImageData {
  const image = new ImageData(width, height);
  for (let i = 0; i < width * height; i++) {
    for (let c = 0; c < 3; c++) image.data[4 * i + c] = pixels[i * channels + (channels >= 3 ? c : 0)]!;
    image.data[4 * i + 3] = 255;
  }
  return image;
}

function clearPad(pad: HTMLCanvasElement): void {
  const ctx = pad.getContext('2d')!;
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, pad.width, pad.height);
}

/**
 * White strokes on black; on release the drawing's bounding box is scaled into the central 20/28
 * of a height×width image (as MNIST digits are framed) and handed over as raw pixel values.
 */
function setUpPad(pad: HTMLCanvasElement, width: number, height: number, channels: number, done: (pixels: number[]) => void): void {
  const ctx = pad.getContext('2d', { willReadFrequently: true })!;
  clearPad(pad);
  let drawing = false;
  const at = (e: PointerEvent) => {
    const r = pad.getBoundingClientRect();
    return [((e.clientX - r.left) * pad.width) / r.width, ((e.clientY - r.top) * pad.height) / r.height] as const;
  };
  pad.addEventListener('pointerdown', (e) => {
    drawing = true;
    const [x, y] = at(e);
    ctx.strokeStyle = '#fff';
    ctx.lineWidth = pad.width / 12;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    ctx.beginPath();
    ctx.moveTo(x, y);
  });
  pad.addEventListener('pointermove', (e) => {
    if (!drawing) return;
    const [x, y] = at(e);
    ctx.lineTo(x, y);
    ctx.stroke();
  });
  const finish = () => {
    if (!drawing) return;
    drawing = false;
    const pixels = padPixels(pad, width, height, channels);
    if (pixels) done(pixels);
  };
  pad.addEventListener('pointerup', finish);
  pad.addEventListener('pointerleave', finish);
}

function padPixels(pad: HTMLCanvasElement, width: number, height: number, channels: number): number[] | null {
  const data = pad.getContext('2d')!.getImageData(0, 0, pad.width, pad.height).data;
  let [x0, y0, x1, y1] = [pad.width, pad.height, -1, -1];
  for (let y = 0; y < pad.height; y++) {
    for (let x = 0; x < pad.width; x++) {
      if (data[4 * (y * pad.width + x)]! > 0) {
        x0 = Math.min(x0, x);
        x1 = Math.max(x1, x);
        y0 = Math.min(y0, y);
        y1 = Math.max(y1, y);
      }
    }
  }
  if (x1 < 0) return null;
  const boxW = x1 - x0 + 1;
  const boxH = y1 - y0 + 1;
  const fit = Math.min((width * 20) / 28 / boxW, (height * 20) / 28 / boxH);
  const small = document.createElement('canvas');
  small.width = width;
  small.height = height;
  const s = small.getContext('2d', { willReadFrequently: true })!;
  s.fillStyle = '#000';
  s.fillRect(0, 0, width, height);
  s.imageSmoothingQuality = 'high';
  s.drawImage(pad, x0, y0, boxW, boxH, (width - boxW * fit) / 2, (height - boxH * fit) / 2, boxW * fit, boxH * fit);
  const grey = s.getImageData(0, 0, width, height).data;
  const pixels: number[] = [];
  for (let i = 0; i < width * height; i++) for (let c = 0; c < channels; c++) pixels.push(grey[4 * i]!);
  return pixels;
}

main().catch((err: unknown) => {
  const box = $('error');
  box.hidden = false;
  box.textContent = `Error: ${(err as Error).message ?? String(err)}`;
  box.dataset.error = box.textContent;
  document.body.dataset.ready = 'error';
});
