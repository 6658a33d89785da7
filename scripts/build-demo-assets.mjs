// Bundles the browser demo page (demo/) into dist/demo/, which the package ships, so that
// `metaquant demo` needs no bundler at run time. Run by `npm run build:demo` and `prepare`.
import { rmSync } from 'node:fs';
import { buildDemoAssets, PREBUILT_DEMO_DIR } from '../dist/src/demo/build.js';

rmSync(PREBUILT_DEMO_DIR, { recursive: true, force: true }); // built from the sources, never reused
await buildDemoAssets(PREBUILT_DEMO_DIR);
console.log(`demo page assets built in ${PREBUILT_DEMO_DIR}`);
