import { existsSync, readFileSync, statSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { InputFileError } from './errors.js';

/**
 * Reads a small hand-written settings file: JSON, or YAML for .yaml/.yml. Hostile input is
 * refused before it costs time or memory (size, bracket depth, alias bombs); `what` names the
 * kind of file in messages ("a compare config").
 */

/** Settings nest a few levels (train: {hidden: [32]}); far deeper is corrupt or hostile. */
const MAX_DEPTH = 32;
const MAX_BYTES = 1 << 20;

/** Deepest nesting of [ and { in the text (brackets inside strings counted too: an upper bound). */
function flowDepth(text: string): number {
  let depth = 0;
  let max = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5b || c === 0x7b) max = Math.max(max, ++depth);
    else if ((c === 0x5d || c === 0x7d) && depth > 0) depth--;
  }
  return max;
}

/** Nesting depth of a parsed value, walked without recursion, stopping past MAX_DEPTH. */
function depthOf(value: unknown): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    max = Math.max(max, d);
    if (max > MAX_DEPTH) break;
    if (typeof v === 'object' && v !== null) for (const child of Object.values(v)) stack.push([child, d + 1]);
  }
  return max;
}

export function readSettingsFile(file: string, what: string): unknown {
  if (!existsSync(file) || !statSync(file).isFile()) throw new InputFileError(file, 'no such file');
  if (statSync(file).size > MAX_BYTES) throw new InputFileError(file, `larger than 1 MiB; not ${what}`);
  const text = readFileSync(file, 'utf8');
  const yaml = ['.yaml', '.yml'].includes(extname(file).toLowerCase());
  // The YAML parser takes seconds and 100+ MiB on 100 000 nested brackets: refuse before parsing.
  if (yaml && flowDepth(text) > MAX_DEPTH) throw new InputFileError(file, `brackets nested deeper than ${MAX_DEPTH} levels; not ${what}`);
  let raw: unknown;
  try {
    // YAML: aliases capped (an alias bomb expands exponentially), no YAML 1.1 tags (!!set,
    // !!binary, … would give Sets and Buffers), warnings not printed (an unknown tag is an error below).
    raw = yaml ? parseYaml(text, { maxAliasCount: 100, resolveKnownTags: false, logLevel: 'error' }) : JSON.parse(text);
  } catch (err) {
    throw new InputFileError(file, `not valid ${yaml ? 'YAML' : 'JSON'}: ${(err as Error).message.split('\n')[0]}`);
  }
  // Deeper values would overflow the stack of whatever walks them later (error messages print them).
  if (depthOf(raw) > MAX_DEPTH) throw new InputFileError(file, `values nested deeper than ${MAX_DEPTH} levels; not ${what}`);
  return raw;
}
