// Hand-written prose may only quote numbers that a generated block shows: every decimal number
// outside the `<!-- BEGIN … -->` … `<!-- END … -->` blocks, inline code and indented code must
// appear inside one of the blocks, so that no hand-typed number can disagree with the tables.

/** The decimal numbers of `text`'s prose that no generated block of `text` contains. */
export function unbackedNumbers(text) {
  const blocks = [...text.matchAll(/<!-- BEGIN [^>]+ -->([\s\S]*?)<!-- END [^>]+ -->/g)].map((m) => m[1]).join('\n');
  const prose = text.replace(/<!-- BEGIN [^>]+ -->[\s\S]*?<!-- END [^>]+ -->/g, '').replace(/`[^`]*`/g, '').replace(/^    .*$/gm, '');
  const numbers = [...prose.matchAll(/[+-]?\d+\.\d+/g)].map((m) => m[0]);
  return { count: numbers.length, missing: [...new Set(numbers)].filter((n) => !blocks.includes(n)) };
}

/** Print the check's result for `name`; a failure sets the exit code. */
export function checkProse(name, text) {
  const { count, missing } = unbackedNumbers(text);
  if (missing.length > 0) {
    console.error(`${name}: numbers in the prose that no generated table shows: ${missing.join(', ')}`);
    process.exitCode = 1;
  } else console.log(`${name}: all ${count} decimal numbers in the prose appear in the generated tables`);
}
